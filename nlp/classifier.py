"""The shipped classifier: editable rules combined with a learned linear model.

Combination (per head, kind and topic): for every class
``score = rule_weight * rule_score + model_decision_value``, the class with
the highest score wins, and the confidence is the softmax probability of
the winner. Rules carry the general knowledge of how people write to a
government office; the model learns the office's own wording from labelled
messages and staff corrections. ``nlp eval`` / ``nlp cv`` measure both
alone and combined. The rule weight of a head is the one its model was
trained to be used with (the model file's ``rule_weight``), else
``RULE_WEIGHT``: the more labelled messages a model has learned from, the
less the hand-written rules need to count.
"""

from __future__ import annotations

import json
import re
import threading
from functools import lru_cache
from itertools import repeat
from math import exp
from operator import add, mul, sub

from .labels import HINT_WORDS, KINDS, TOPICS, Classification
from .model import LinearModel
from .rules import Rules
from .segment import is_word
from .textnorm import CACHE_TEXT_MAX, Memo, is_contentless, normalize, normalize_many, substance

# for a model without its own rule weights (trained on the dev rows alone):
# chosen by cross-validation (nlp cv): 0.1→0.92, 0.3→0.976, 0.5→0.979 kind F1
RULE_WEIGHT = 0.5
TEMPERATURE = 1.0  # of the softmax that turns scores into a confidence
REVIEW_BELOW = 0.48  # confidence under this → needs_review (see nlp/README.md)
EVIDENCE_N = 3  # model n-grams shown as "matched" when no rule decided
# A second request in the same message (``secondary_kind``), from the rules'
# kind scores: a disclosure request is never lost (any cue of one beside
# another kind makes it the secondary kind, and a consultation that may be a
# disclosure request is sent for review); another kind is a second request
# when its cues are strong and the writer says there is a second thing
# (另外, 还有, 顺便 …), or when a question comes with a declared complaint or
# report (strong cues that outweigh the question's, no marker needed). Chosen
# on the dev rows and the training files (never on the held-out files).
SECOND_MIN = 6.0
DISCLOSURE_SECOND_MIN = 3.0
# ... or when the combined scores give a disclosure request at least this
# probability (chosen on the training files, each left out in turn: from 0.2
# to 0.5 recall stays the same there, precision rises up to 0.3)
DISCLOSURE_SECOND_SHARE = 0.3
MULTI_MARKERS = ("另外", "还有", "顺便", "二是", "两个事", "两件事", "此外", "再就是", "另一个")
_MULTI = re.compile("|".join(MULTI_MARKERS))
# Two requests in one message: the kind is the one stated first and the
# other is the secondary kind (the labelling rule; the classifier alone
# would put the one with the stronger cues first, often the disclosure
# request the writer added "另外"). A message of at most TWO_PARTS_MAX
# characters with one of these markers (not in its first or last
# TWO_PARTS_EDGE characters) is cut there and each part classified; in long
# letters such words join a story, not two requests. Chosen on the training
# files, each left out in turn: written kind macro-F1 0.868 → 0.896 (cut at
# any sentence end instead: 0.871), disclosure recall 0.961 → 0.967.
TWO_PARTS_MARKERS = MULTI_MARKERS + ("同时", "其次", "其二", "二、", "2、", "另请", "另要求", "另需", "并请", "并把",
                                     "并向", "并提供", "并要求", "再把", "也请", "还想", "也想",
                                     "also", "another", "besides", "by the way", "btw")
TWO_PARTS_MAX = 200
TWO_PARTS_EDGE = 4
_TWO_PARTS = re.compile("|".join(map(re.escape, TWO_PARTS_MARKERS)))
_DIS_KEY = "disclosure_request"
_DIS = KINDS.index(_DIS_KEY)
_COMPLAINT, _REPORT, _CONSULTATION = KINDS.index("complaint"), KINDS.index("report"), KINDS.index("consultation")
SECOND_KINDS = ("disclosure_request", "report", "complaint", "help", "suggestion", "consultation", "praise")
_SECOND = [(k, KINDS.index(k)) for k in SECOND_KINDS]
_LABEL_TO_KIND = {**HINT_WORDS, **{k: k for k in KINDS}}


def kind_from_hint(hint: str | None) -> str | None:
    """A channel's own request type (key, 中文 label or 12345 诉求类型) → kind key."""
    if not hint:
        return None
    return _LABEL_TO_KIND.get(str(hint).strip())


class OfficeClassifier:
    """Rules + learned model. Thread-safe; ``classify`` never raises."""

    def __init__(self, rules: Rules, model: LinearModel | None = None, *, mode: str = "combined",
                 rule_weight: float | None = None):
        if mode not in ("combined", "rules", "model"):
            raise ValueError(f"mode must be combined, rules or model, not {mode!r}")
        self.rules = rules
        self.model = model
        self.mode = mode if model is not None or mode == "rules" else "rules"
        # one weight per head: a given one, else the model's own, else the default
        learned = model.rule_weights if model is not None else {}
        self.rule_weight = {h: rule_weight if rule_weight is not None else learned.get(h, RULE_WEIGHT)
                            for h in ("kind", "topic")}
        self._kp = {k: rules.kind_priority.get(k, 0) * 1e-4 for k in KINDS}
        self._tp = {t: rules.topic_priority.get(t, 0) * 1e-4 for t in TOPICS}
        self._cached = lru_cache(maxsize=8192)(self._classify)
        self._lock = threading.Lock()
        self._layout: dict = {}

    # ------------------------------------------------------------- public
    def classify(self, text: str, *, hint_kind: str | None = None) -> Classification:
        try:
            if not isinstance(text, str):
                text = "" if text is None else str(text)
            hint = kind_from_hint(hint_kind)
            if len(text) <= CACHE_TEXT_MAX:
                return self._cached(text, hint)
            return self._classify(text, hint)
        except Exception:  # never raise on the hot path: route to a person
            return Classification("other", "general", 0.0, (), True, "error")

    def prepare_batch(self) -> None:
        """Build what ``classify_json`` builds on first use (numpy tables of
        the rules and the model, the model's evidence tables), so that a
        batch run pays it at start-up."""
        normalize_many(["预热"])
        self.rules.score_batch(["预热", "你好"])
        if self.model is not None and self.mode != "rules":
            self.model.prepare_batch(is_word)

    def classify_json(self, texts, *, hint_kind: str | None = None) -> list[str]:
        """The JSON line (``json.dumps(c.as_dict(), ensure_ascii=False)``,
        byte for byte) of each text, for batch output. Bypasses the LRU cache
        (a batch keeps its own); never raises."""
        hint = kind_from_hint(hint_kind)
        texts = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
        raws = cores = None
        try:
            norms = normalize_many(texts)
            if self.mode == "combined" and not hint:
                cores = self._batch_cores(norms)
            if cores is None and self.mode != "rules":
                # the model's scores of the whole batch at once (None: one by one)
                raws = self.model.scores_batch(norms)
        except Exception:
            norms = cores = raws = None
        if cores is not None:
            return [_json_line(*c) for c in cores]
        out = []
        append = out.append
        for i, text in enumerate(texts):
            try:
                if norms is None:
                    append(_json_line(*self._core(text, hint)))
                else:
                    append(_json_line(*self._core_norm(norms[i], hint, None if raws is None else raws[i])))
            except Exception:  # as classify(): route to a person
                append(_json_line("other", "general", 0.0, (), True, "error"))
        return out

    def _batch_cores(self, norms: list[str], *, parts: bool = True) -> list[tuple] | None:
        """``[self._core_norm(n, None, parts=parts) for n in norms]`` in combined mode,
        with the rules, the model and the combination of each head computed
        for the whole batch by numpy (the same float operations in the same
        order); None when something needs the one-by-one path."""
        import numpy as np

        model = self.model
        heads = model.heads
        if "kind" not in heads or "topic" not in heads:
            return None
        kcls, tcls = heads["kind"][1], heads["topic"][1]
        if not (set(kcls) <= set(KINDS) and set(tcls) <= set(TOPICS) and "other" in kcls and "general" in tcls):
            return None
        got = model.scores_batch(norms, with_rows=True)
        if got is None:
            return None
        raw, rows, bounds = got
        rb = self.rules.score_batch(norms)
        if rb is None:
            return None
        whole = rb.whole
        kfired = (rb.kind > 0).any(1)
        need = ~kfired & ~whole
        said = np.array([substance(x) if nd else 99 for x, nd in zip(norms, need.tolist())])
        kfb = whole | (need & (said < 4))
        kbest, kconf, _, kdis = self._decide_batch("kind", rb.kind, KINDS, raw, self._kp, kfb, "other")
        kinds = [kcls[b] for b in kbest.tolist()]
        tfb = ~(rb.topic > 0).any(1) & np.array([k == "other" for k in kinds])
        tbest, tconf, tfired, _ = self._decide_batch("topic", rb.topic, TOPICS, raw, self._tp, tfb, "general")
        topics = [tcls[b] for b in tbest.tolist()]
        # the rule cues of each text's classes (None: no rule fired or none shown)
        kcues = rb.matched_all("kind", np.array([KINDS.index(c) for c in kcls])[kbest], kfired)
        tcues = rb.matched_all("topic", np.array([TOPICS.index(c) for c in tcls])[tbest], tfired)
        kf, tf = kfired.tolist(), tfired.tolist()
        kscores = rb.kind.tolist()
        # the model's words where no rule cue is shown, marked as such
        kev = self._evidence_of(rows, bounds, kcues, kinds, "kind")
        tev = self._evidence_of(rows, bounds, tcues, topics, "topic")
        out = []
        append = out.append
        for i, norm in enumerate(norms):
            if is_contentless(norm):
                append(self._core_norm(norm, None, parts=parts))
                continue
            kind, topic = kinds[i], topics[i]
            kmatched = kcues[i] or kev[i]
            tmatched = tcues[i] or tev[i]
            matched = _merge_matched(kmatched, tmatched)
            conf = kconf[i] if kconf[i] < tconf[i] else tconf[i]
            src = "combined" if kf[i] or tf[i] else "model"
            second = secondary_kind(kind, kscores[i], norm, kdis[i]) if kf[i] or kdis[i] >= DISCLOSURE_SECOND_SHARE else None
            append((kind, topic, conf, matched, _review(conf, kind, second), src, second))
        if parts:
            # two requests in one: the parts of all such texts, scored as a batch
            cuts = [(i, c) for i, c in enumerate(map(_two_parts_cut, norms)) if c and not is_contentless(norms[i])]
            if cuts:
                halves = [h for i, c in cuts for h in (norms[i][:c], norms[i][c:])]
                scored = self._batch_cores(halves, parts=False)
                if scored is None:
                    scored = [self._core_norm(h, None, parts=False) for h in halves]
                for j, (i, _) in enumerate(cuts):
                    out[i] = _first_stated(out[i], scored[2 * j], scored[2 * j + 1])
        return out

    def _evidence_of(self, rows, bounds, cues: list, classes: list[str], head: str) -> dict:
        """{text index: the model's evidence for its class, marked} of the
        texts with no rule cue (``cues[i]`` None)."""
        want = [i for i, c in enumerate(cues) if c is None]
        found = self.model.evidence_batch(rows, bounds, want, [classes[i] for i in want], head, EVIDENCE_N, is_word)
        for lst in found:
            if lst:
                lst.append(_EVIDENCE)
        return dict(zip(want, found))

    def _decide_batch(self, head, R, names, raw, prio, fb, fallback):
        """``_decide`` in combined mode for every row: the best class index
        (an array), the confidence (a list), whether rules fired (an array)
        and the kind head's disclosure share (a list; zeros for topic)."""
        import numpy as np

        classes, off, prios = self._head_layout(head, prio)
        cols = [names.index(c) for c in classes]
        fired = (R > 0).any(1)
        vals = raw[:, off : off + len(classes)] + self.rule_weight[head] * R[:, cols]
        apply = fb & (~fired | (R[:, names.index(fallback)] > 0))
        if apply.any():
            vals[apply, classes.index(fallback)] = vals[apply].max(1) + 1.0
        vals = vals + np.array(prios)
        m = vals.max(1)
        best = vals.argmax(1)
        if TEMPERATURE == 1.0:
            e = _exp_array(vals - m[:, None])
        else:
            e = _exp_array((vals - m[:, None]) / TEMPERATURE)
        total = e[:, 0].copy()
        for j in range(1, e.shape[1]):  # left to right, as sum()
            total += e[:, j]
        if head == "kind" and _DIS_KEY in classes:
            share = e[:, classes.index(_DIS_KEY)] / total
            share[apply] = 0.0
            share = share.tolist()
        else:
            share = [0.0] * len(total)
        return best, (1.0 / total).tolist(), fired, share

    # ------------------------------------------------------------ internals
    def _classify(self, text: str, hint: str | None) -> Classification:
        return Classification(*self._core(text, hint))

    def _core(self, text: str, hint: str | None) -> tuple:
        """(kind, topic, confidence, matched, needs_review, source, secondary_kind)."""
        return self._core_norm(normalize(text), hint)

    def _core_norm(self, norm: str, hint: str | None, raw: list | None = None, *, parts: bool = True) -> tuple:
        """``_core`` of a normalised text; ``raw``: the model's scores of it
        when already computed (``scores_batch``); ``parts``: a message with
        two requests is ordered by its parts (``_first_stated``)."""
        if is_contentless(norm):
            return (hint or "other", "general", 0.2 if not hint else 0.5, (), True, "feed" if hint else "rules", None)
        rr = self.rules.score(norm)
        if self.mode == "rules":
            feats = raw = None
        elif raw is None:
            feats = self.model.features(norm)
            raw = self.model.scores_of(feats)
        else:
            feats = _Lazy(self.model.features, norm)  # built only if the model has to explain itself

        # kind
        if hint:
            kind, kconf, kmatched, ksrc, kdis = hint, 1.0, [], "feed", 0.0
        else:
            kind, kconf, kmatched, ksrc, kdis = self._decide(
                "kind", rr.kind_scores, rr.kind_matched, raw, self._kp, feats,
                fallback="other" if rr.whole_other or (max(rr.kind_scores.values()) <= 0 and (substance(norm) < 4 or self.mode == "rules")) else None)
        topic, tconf, tmatched, tsrc, _ = self._decide("topic", rr.topic_scores, rr.topic_matched, raw, self._tp, feats,
                                                    fallback="general" if max(rr.topic_scores.values()) <= 0 and (kind == "other" or self.mode == "rules") else None)
        matched = _merge_matched(kmatched, tmatched)
        conf = min(kconf, tconf)
        src = ksrc if ksrc == tsrc else ("feed" if ksrc == "feed" else "combined")
        second = secondary_kind(kind, list(rr.kind_scores.values()), norm, kdis)
        core = (kind, topic, conf, matched, _review(conf, kind, second), src, second)
        if parts and not hint:
            cut = _two_parts_cut(norm)
            if cut:
                core = _first_stated(core, self._core_norm(norm[:cut], None, parts=False),
                                     self._core_norm(norm[cut:], None, parts=False))
        return core

    def _head_layout(self, head: str, prio: dict):
        """(classes, offset into the model's raw scores, priorities) of a head,
        in the order the scores are combined (the model's class order, or
        the rules' when there is no model)."""
        lay = self._layout.get(head)
        if lay is None:
            h = self.model.heads.get(head) if self.model is not None else None
            if h is not None:
                off, classes, _ = h
            else:
                off, classes = None, list(KINDS if head == "kind" else TOPICS)
            lay = self._layout[head] = (classes, off, [prio.get(c, 0.0) for c in classes])
        return lay

    def _decide(self, head, rule_scores, rule_matched, raw, prio, feats, fallback=None):
        rules_fired = max(rule_scores.values()) > 0
        classes, off, prios = self._head_layout(head, prio)
        if raw is None or off is None:
            rw = self.rule_weight[head]
            classes = list(rule_scores)
            vals = [v * rw for v in rule_scores.values()]
            prios = [prio.get(c, 0.0) for c in classes]
            src = "rules"
        elif self.mode == "model":
            vals = raw[off : off + len(classes)]
            src = "model"
        else:
            # v + rw * rule score, class by class (map() in C, same arithmetic)
            rules = map(rule_scores.get, classes, repeat(0.0))
            vals = list(map(add, raw[off : off + len(classes)], map(mul, repeat(self.rule_weight[head]), rules)))
            src = "combined" if rules_fired else "model"
        fell_back = False
        if fallback and self.mode != "model":
            # nothing to go on (a greeting, a test, a few stray characters)
            if not rules_fired or rule_scores.get(fallback, 0) > 0:
                fell_back = True
                top = max(vals) + 1.0
                if fallback in classes:
                    vals[classes.index(fallback)] = top
                else:
                    classes = classes + [fallback]
                    vals = vals + [top]
                    prios = prios + [prio.get(fallback, 0.0)]
        vals = list(map(add, vals, prios))
        # softmax probability of the winner, without building the distribution
        m = max(vals)
        best = classes[vals.index(m)]
        if TEMPERATURE == 1.0:
            total = sum(map(exp, map(sub, vals, repeat(m))))
        else:
            total = sum([exp((v - m) / TEMPERATURE) for v in vals])
        conf = 1.0 / total
        # how likely a disclosure request is, when the model had a say and
        # no fallback decided (a greeting is not a request for a document)
        share = 0.0
        if head == "kind" and src != "rules" and not fell_back and _DIS_KEY in classes:
            share = exp((vals[classes.index(_DIS_KEY)] - m) / TEMPERATURE) / total
        if src == "rules" and not rules_fired:
            conf = min(conf, 0.3)
        matched = list(rule_matched.get(best, ())) if src != "model" else []
        if not matched and feats is not None and src != "rules":
            if type(feats) is _Lazy:
                feats = feats.get()
            matched = self.model.evidence(feats, head, best, EVIDENCE_N, is_word)
            if matched:
                matched.append(_EVIDENCE)
        return best, conf, matched, src, share


# str -> its JSON literal (kinds, topics, cue phrases and model words repeat)
_JSON_STR = Memo(lambda s: json.dumps(s, ensure_ascii=False))
_FLOAT_REPR = float.__repr__


def _json_line(kind, topic, conf, matched, review, src, second=None) -> str:
    """``json.dumps(Classification(...).as_dict(), ensure_ascii=False)``, byte
    for byte, without building the dict."""
    conf = round(conf, 3)
    if type(conf) is not float or not 0.0 <= conf <= 1.0:  # NaN, inf, an int: as json does
        return json.dumps(Classification(kind, topic, conf, matched, review, src, second).as_dict(), ensure_ascii=False)
    q = _JSON_STR
    return (f'{{"kind": {q[kind]}, "topic": {q[topic]}, "confidence": {_FLOAT_REPR(conf)}, '
            f'"matched": [{", ".join([q[m] for m in matched])}], "needs_review": {"true" if review else "false"}, '
            f'"source": {q[src]}, "secondary_kind": {"null" if second is None else q[second]}}}')


def secondary_kind(kind: str, kind_scores: list, norm: str, dis_share: float = 0.0) -> str | None:
    """The second request of a message (normalised text ``norm``) whose kind
    is ``kind``, from the rules' kind scores (a list in ``KINDS`` order) and
    the classifier's probability that it is a disclosure request
    (``dis_share``); None when there is none."""
    if kind != "disclosure_request" and (kind_scores[_DIS] >= DISCLOSURE_SECOND_MIN
                                         or dis_share >= DISCLOSURE_SECOND_SHARE):
        return "disclosure_request"
    if _MULTI.search(norm) is None:
        if kind == "consultation":
            # a question beside a declared grievance ("我要投诉开发商…，可以买卖吗"):
            # the complaint or report must not be settled by an automatic answer
            c, r = kind_scores[_COMPLAINT], kind_scores[_REPORT]
            if SECOND_MIN <= max(c, r) > kind_scores[_CONSULTATION]:
                return "complaint" if c >= r else "report"
        return None
    best, top = None, SECOND_MIN
    for k, i in _SECOND:
        if k != kind:
            v = kind_scores[i]
            if v >= top:
                best, top = k, v
    return best


def _review(conf: float, kind: str, second: str | None) -> bool:
    """needs_review: low confidence, or a consultation that may be a
    disclosure request (a missed one is a missed legal deadline)."""
    return conf < REVIEW_BELOW or (second == "disclosure_request" and kind == "consultation")


def _two_parts_cut(norm: str) -> int:
    """Where a message of two requests is cut (the start of its first
    two-request marker), or 0 when it is not."""
    if len(norm) > TWO_PARTS_MAX:
        return 0
    m = _TWO_PARTS.search(norm)
    if m is None or m.start() < TWO_PARTS_EDGE or len(norm) - m.end() < TWO_PARTS_EDGE:
        return 0
    return m.start()


def _first_stated(whole: tuple, first: tuple, then: tuple) -> tuple:
    """The core of a message from its own and its two parts' cores: when the
    parts ask for two different things and the whole's kind is one of them,
    the first stated is the kind and the other the secondary kind (a
    disclosure request the whole had stays, as the secondary kind)."""
    k1, k2 = first[0], then[0]
    kind, topic, conf, matched, _, src, second = whole
    if k1 == k2 or "other" in (k1, k2) or kind not in (k1, k2) or (kind, second) == (k1, k2):
        return whole
    had_dis = _DIS_KEY in (kind, second)
    kind, second = k1, k2
    if had_dis and _DIS_KEY not in (kind, second):
        second = _DIS_KEY
    conf = conf if conf < first[2] else first[2]
    matched = tuple(dict.fromkeys(first[3] + matched))
    return (kind, topic, conf, matched, _review(conf, kind, second), src, second)


class _Lazy:
    """A value computed on first ``get()`` (shared by the two heads)."""

    __slots__ = ("fn", "arg", "value")

    def __init__(self, fn, arg):
        self.fn, self.arg, self.value = fn, arg, None

    def get(self):
        if self.value is None:
            self.value = self.fn(self.arg)
        return self.value


def _exp_array(x):
    """math.exp of every element (numpy's exp when it gives the same bits
    on this machine, checked once)."""
    import numpy as np

    global _NP_EXP_SAME
    if _NP_EXP_SAME is None:
        probe = np.linspace(-40.0, 0.0, 4001)
        _NP_EXP_SAME = np.exp(probe).tolist() == list(map(exp, probe.tolist()))
    if _NP_EXP_SAME:
        return np.exp(x)
    return np.array(list(map(exp, x.ravel().tolist()))).reshape(x.shape)


_NP_EXP_SAME = None
_EVIDENCE = object()  # marks a list of model n-grams (not rule cues)


def _merge_matched(kmatched: list, tmatched: list) -> tuple[str, ...]:
    """The words shown for both heads, kind's first, each once. Where one
    head's words are the model's (marked ``_EVIDENCE``) and the other's are
    not empty: rule cues first, and a model n-gram already inside a shown
    word is dropped."""
    if not (kmatched and tmatched and (kmatched[-1] is _EVIDENCE or tmatched[-1] is _EVIDENCE)):
        return tuple(dict.fromkeys(x for x in kmatched + tmatched if x is not _EVIDENCE))
    rule_words = [x for lst in (kmatched, tmatched) if lst[-1] is not _EVIDENCE for x in lst]
    out = list(dict.fromkeys(rule_words))
    for lst in (kmatched, tmatched):
        if lst[-1] is _EVIDENCE:
            for x in lst[:-1]:
                if x not in out and not any(x in o for o in out):
                    out.append(x)
    return tuple(out)

"""The rules stage: cue phrases with weights, read from an editable YAML file.

See the header of ``rules.yaml`` for the file's format. Every occurrence of
every phrase (overlapping ones included) is found in one pass of an
Aho-Corasick automaton (``ahocorasick_rs``, the Rust aho-corasick crate:
1.5 µs for a 20-character message against 17 µs for the per-position
Python scan it replaced); without that package the Python scan, with phrases
indexed by their first two characters, finds the same occurrences. Either
way the cost is proportional to the text length, not to the number of
phrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import yaml

try:  # optional accelerator: the same hits, found in Rust
    import ahocorasick_rs
except ImportError:  # pragma: no cover - the Python scan below finds the same hits
    ahocorasick_rs = None

from .labels import KINDS, TOPICS
from .textnorm import code_points, join_texts, normalize

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yaml")


class RulesError(ValueError):
    """The rules file is malformed (the message names the place)."""


@dataclass(slots=True)
class _Phrase:
    text: str
    kind: list = field(default_factory=list)  # (class, weight)
    topic: list = field(default_factory=list)  # (class, weight)
    neg: list = field(default_factory=list)  # dict class -> delta
    groups: list = field(default_factory=list)  # (rule index, group index)
    # built once all rules are read: what a hit of this phrase does, in the
    # order score() applies it — (class, weight, shown as matched)
    kind_moves: tuple | None = None
    topic_moves: tuple | None = None


@dataclass(slots=True)
class RuleResult:
    kind_scores: dict
    topic_scores: dict
    kind_matched: dict  # class -> [phrases]
    topic_matched: dict
    whole_other: bool = False


def _phrase_list(value, where: str) -> list[str]:
    if not isinstance(value, list):
        raise RulesError(f"{where}: expected a list of phrases, got {type(value).__name__}")
    out = []
    for p in value:
        if not isinstance(p, (str, int)):
            raise RulesError(f"{where}: phrase {p!r} is not text")
        n = normalize(str(p))
        if n:
            out.append(n)
    return out


class Rules:
    def __init__(self, data: dict, source: str = "<rules>"):
        if not isinstance(data, dict):
            raise RulesError(f"{source}: top level must be a mapping")
        self.source = source
        self._phrases: dict[str, _Phrase] = {}
        self.kind_priority = {k: 0 for k in KINDS}
        self.topic_priority = {t: 0 for t in TOPICS}
        self.dominates: list[tuple[str, float, list[str], float]] = []
        self.together: list[tuple[str, str, str, float, int]] = []  # (head, class, name, weight, n_groups)
        # per together rule: the most characters its phrases may span, or None (anywhere in the text)
        self.together_within: list[int | None] = []
        self.whole_other: set[str] = set()
        self._whole_max = 0  # the most letters and digits of a whole_other phrase

        for head, names, prio in (("kind", KINDS, self.kind_priority), ("topic", TOPICS, self.topic_priority)):
            section = data.get(head + "s") or {}
            if not isinstance(section, dict):
                raise RulesError(f"{source}: '{head}s' must be a mapping")
            for cls, spec in section.items():
                where = f"{source}: {head}s.{cls}"
                if cls not in names:
                    raise RulesError(f"{where}: unknown {head} (expected one of {', '.join(names)})")
                spec = spec or {}
                prio[cls] = float(spec.get("priority", 0))
                for w, phrases in (spec.get("cues") or {}).items():
                    try:
                        weight = float(w)
                    except (TypeError, ValueError):
                        raise RulesError(f"{where}.cues: weight {w!r} is not a number") from None
                    for p in _phrase_list(phrases, f"{where}.cues.{w}"):
                        getattr(self._get(p), head).append((cls, weight))
                for i, rule in enumerate(spec.get("together") or []):
                    groups = rule.get("groups") or []
                    if len(groups) < 2:
                        raise RulesError(f"{where}.together[{i}]: needs at least two groups")
                    idx = len(self.together)
                    self.together.append((head, cls, str(rule.get("name", f"rule{idx}")), float(rule.get("weight", 1)), len(groups)))
                    self.together_within.append(_within(rule.get("within"), f"{where}.together[{i}].within"))
                    for g, phrases in enumerate(groups):
                        for p in _phrase_list(phrases, f"{where}.together[{i}].groups[{g}]"):
                            self._get(p).groups.append((idx, g))
                for d in spec.get("dominates") or []:
                    self.dominates.append((cls, float(d.get("min", 0)), list(d.get("classes") or []), float(d.get("by", 0))))
                for i, neg in enumerate(spec.get("negations") or []):
                    self._negation(neg, f"{where}.negations[{i}]")
                if head == "kind" and cls == "other":
                    for p in _phrase_list(spec.get("whole") or [], f"{where}.whole"):
                        self.whole_other.add(_alnum(p))
                        self._whole_max = max(self._whole_max, len(_alnum(p)))
        for i, neg in enumerate(data.get("negations") or []):
            self._negation(neg, f"{source}: negations[{i}]")

        # index: first character -> phrases, longest first
        # index: first two characters -> phrases (longest first); one-character
        # phrases apart, so a position costs one or two dict lookups
        index: dict[str, list[_Phrase]] = {}
        singles: dict[str, _Phrase] = {}
        for ph in self._phrases.values():
            if len(ph.text) == 1:
                singles[ph.text] = ph
            else:
                index.setdefault(ph.text[:2], []).append(ph)
        for lst in index.values():
            lst.sort(key=lambda ph: -len(ph.text))
        self._index = index
        self._singles = singles
        for ph in self._phrases.values():
            # None: the phrase is no kind cue (and does not hide the ones it contains)
            ph.kind_moves = (tuple([(c, w, True) for c, w in ph.kind]
                                   + [(c, w, w > 0) for moves in ph.neg for c, w in moves.items()])
                             if ph.kind or ph.neg else None)
            ph.topic_moves = tuple(ph.topic) if ph.topic else None
        # one automaton for all phrases: every occurrence, overlapping ones too
        self._by_id = list(self._phrases.values())
        self._texts = [ph.text for ph in self._by_id]  # by phrase id
        self._ac = None
        if ahocorasick_rs is not None and self._by_id:
            self._ac = ahocorasick_rs.AhoCorasick(self._texts, matchkind=ahocorasick_rs.MatchKind.Standard)

    def _get(self, p: str) -> _Phrase:
        ph = self._phrases.get(p)
        if ph is None:
            ph = self._phrases[p] = _Phrase(p)
        return ph

    def _negation(self, neg, where: str) -> None:
        if not isinstance(neg, dict) or "phrases" not in neg:
            raise RulesError(f"{where}: expected {{phrases: [...], moves: {{class: weight}}}}")
        moves = {}
        for cls, w in (neg.get("moves") or {}).items():
            if cls not in KINDS:
                raise RulesError(f"{where}.moves: unknown kind {cls!r}")
            moves[cls] = float(w)
        for p in _phrase_list(neg["phrases"], where + ".phrases"):
            self._get(p).neg.append(moves)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Rules":
        path = Path(path) if path else DEFAULT_RULES_PATH
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise RulesError(f"{path}: not valid YAML: {e}") from None
        return cls(data, str(path))

    @property
    def phrases(self) -> list[str]:
        return list(self._phrases)

    # ------------------------------------------------------------------ scan
    def hits(self, norm: str) -> list[tuple[int, int, _Phrase]]:
        """Every occurrence of every phrase in ``norm``, as (start, -length,
        phrase), sorted by start and, at one start, longest first."""
        if self._ac is not None:
            by_id = self._by_id
            hits = [(s, s - e, by_id[i]) for i, s, e in self._ac.find_matches_as_indexes(norm, overlapping=True)]
        else:
            hits = self._scan(norm)
        # no two hits share (start, length): the phrases are never compared
        hits.sort()
        return hits

    def score_batch(self, norms: list[str]):
        """The rule scores of many normalised texts at once, equal to
        ``score()`` of each: a ``RuleBatch`` (numpy arrays), or None when
        this batch or rules file needs the one-by-one path (no automaton,
        no numpy, a NUL in a text)."""
        if self._ac is None or not norms:
            return None
        try:
            import numpy as np
        except ImportError:  # pragma: no cover
            return None
        tables = self._batch_tables(np)
        if tables is None:
            return None
        joined = join_texts(norms)
        if joined is None:
            return None
        return RuleBatch(self, tables, norms, joined, self._ac.find_matches_as_indexes(joined, overlapping=True), np)

    def _batch_tables(self, np):
        t = getattr(self, "_btables", False)
        if t is not False:
            return t
        kidx = {c: i for i, c in enumerate(KINDS)}
        tidx = {c: i for i, c in enumerate(TOPICS)}
        bits = {}
        for ph in self._by_id:
            for rg in ph.groups:
                bits.setdefault(rg, len(bits))
        if len(bits) > 62 or any("\x00" in ph.text for ph in self._by_id):
            self._btables = None
            return None
        def flat(moves_of, idx):
            cnt, cls, w = [], [], []
            for ph in self._by_id:
                moves = moves_of(ph) or ()
                cnt.append(len(moves))
                for m in moves:
                    cls.append(idx[m[0]])
                    w.append(m[1])
            cnt = np.array(cnt, dtype=np.int64)
            start = np.zeros(len(cnt) + 1, dtype=np.int64)
            np.cumsum(cnt, out=start[1:])
            return cnt, start[:-1], np.array(cls, dtype=np.int64), np.array(w, dtype=np.float64)
        def shown(classes_of, idx):
            out = np.zeros((len(self._by_id), len(idx)), dtype=bool)
            for p, ph in enumerate(self._by_id):
                for c in classes_of(ph):
                    out[p, idx[c]] = True
            return out
        t = self._btables = {
            "is_k": np.array([ph.kind_moves is not None for ph in self._by_id]),
            "is_t": np.array([ph.topic_moves is not None for ph in self._by_id]),
            # shown[phrase id, class]: the phrase is noted for the class (RuleBatch.matched_all)
            "shown_k": shown(lambda ph: [c for c, _, note in ph.kind_moves or () if note], kidx),
            "shown_t": shown(lambda ph: [c for c, _ in ph.topic_moves or ()], tidx),
            "k": flat(lambda ph: ph.kind_moves, kidx),
            "t": flat(lambda ph: ph.topic_moves, tidx),
            "gmask": np.array([sum(1 << bits[rg] for rg in set(ph.groups)) for ph in self._by_id], dtype=np.int64),
            "together": [(sum(1 << bits[(i, g)] for g in range(n)) if all((i, g) in bits for g in range(n)) else -1,
                          head, (kidx if head == "kind" else tidx)[cls], cls, name, weight)
                         for i, (head, cls, name, weight, n) in enumerate(self.together)],
            "dominates": [(kidx[cls], minimum, [kidx[x] for x in losers], by) for cls, minimum, losers, by in self.dominates],
        }
        return t

    def _scan(self, norm: str) -> list[tuple[int, int, _Phrase]]:
        index = self._index
        singles = self._singles
        hits: list[tuple[int, int, _Phrase]] = []
        for i in range(len(norm)):
            cands = index.get(norm[i : i + 2])
            if cands:
                for ph in cands:
                    if norm.startswith(ph.text, i):
                        hits.append((i, -len(ph.text), ph))
            ph = singles.get(norm[i])
            if ph is not None:
                hits.append((i, -1, ph))
        return hits

    def score(self, norm: str) -> RuleResult:
        """Score an already-normalised text."""
        kind_scores = dict.fromkeys(KINDS, 0.0)
        topic_scores = dict.fromkeys(TOPICS, 0.0)
        kind_matched: dict[str, list[str]] = {}
        topic_matched: dict[str, list[str]] = {}
        whole = _alnum(norm) in self.whole_other if len(norm) <= 24 and self.whole_other else False
        hits = self.hits(norm) if norm else None
        if hits:
            groups_hit: set = set()
            kind_end = topic_end = -1
            for start, neglen, ph in hits:
                end = start - neglen
                if ph.groups:
                    groups_hit.update(ph.groups)
                if end > kind_end:
                    moves = ph.kind_moves
                    if moves is not None:
                        kind_end = end
                        for cls, w, shown in moves:
                            kind_scores[cls] += w
                            if shown:
                                lst = kind_matched.get(cls)
                                if lst is None:
                                    kind_matched[cls] = [ph.text]
                                elif ph.text not in lst:
                                    lst.append(ph.text)
                if end > topic_end:
                    moves = ph.topic_moves
                    if moves is not None:
                        topic_end = end
                        for cls, w in moves:
                            topic_scores[cls] += w
                            lst = topic_matched.get(cls)
                            if lst is None:
                                topic_matched[cls] = [ph.text]
                            elif ph.text not in lst:
                                lst.append(ph.text)
            if groups_hit:
                within = self.together_within
                for idx, (head, cls, name, weight, n) in enumerate(self.together):
                    if all((idx, g) in groups_hit for g in range(n)) and (
                            within[idx] is None or _span(hits, idx, n) <= within[idx]):
                        if head == "kind":
                            kind_scores[cls] += weight
                            _note(kind_matched, cls, name)
                        else:
                            topic_scores[cls] += weight
                            _note(topic_matched, cls, name)
            for cls, minimum, losers, by in self.dominates:
                if kind_scores[cls] >= minimum:
                    for loser in losers:
                        kind_scores[loser] -= by
        if whole:
            kind_scores["other"] += 20.0
            _note(kind_matched, "other", norm)
        return RuleResult(kind_scores, topic_scores, kind_matched, topic_matched, whole)


def _within(value, where: str) -> int | None:
    """A together rule's ``within`` (characters), validated."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise RulesError(f"{where}: expected a whole number of characters from 1 to 10000, got {value!r}")
    return value


def _span(hits: list, idx: int, n: int) -> int:
    """The fewest characters of text that hold a phrase of each of together
    rule ``idx``'s ``n`` groups (``hits`` as ``Rules.hits`` gives them, by
    start): for each start, right to left, every group's phrase that starts
    there or later and ends first; linear in the hits, so a long text full
    of such phrases costs no more than its scan."""
    far = 1 << 62
    first_end = [far] * n  # per group: the earliest end among phrases starting at or after the current start
    best = far
    for start, neglen, ph in reversed(hits):
        for rule, g in ph.groups:
            if rule == idx:
                end = start - neglen
                if end < first_end[g]:
                    first_end[g] = end
                right = max(first_end)
                if right < far and right - start < best:
                    best = right - start
    return best


def _note(d: dict, cls: str, text: str) -> None:
    lst = d.get(cls)
    if lst is None:
        d[cls] = [text]
    elif text not in lst:
        lst.append(text)


_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"
_ALNUM_BMP: list = []


def _alnum_bmp(np):
    """str.isalnum of every code point below 0x10000, as a bool array."""
    if not _ALNUM_BMP:
        _ALNUM_BMP.append(np.array([chr(c).isalnum() for c in range(0x10000)], dtype=bool))
    return _ALNUM_BMP[0]


def _alnum(s: str) -> str:
    """Only the letters and digits of ``s`` (as ``str.isalnum``)."""
    return _NOT_ALNUM.sub("", s)


class RuleBatch:
    """``Rules.score`` of a batch: ``kind``/``topic`` (n × 8 arrays in
    KINDS/TOPICS order), ``whole`` (bool array), and ``matched_all(head,
    best, fired)``, the cue phrases shown for each text's class, as
    ``score()`` would note them. The same float additions in the same order
    as ``score()``."""

    def __init__(self, rules: Rules, t: dict, norms: list[str], joined: str, matches: list, np):
        n = len(norms)
        self.n, self.norms, self.rules, self.t = n, norms, rules, t
        lens = np.fromiter(map(len, norms), dtype=np.int64, count=n)
        mstart = np.zeros(n, dtype=np.int64)
        np.cumsum(lens[:-1] + 1, out=mstart[1:])
        K = np.zeros((n, len(KINDS)))
        T = np.zeros((n, len(TOPICS)))
        self.k_hits = self.t_hits = None
        fired_together: list = []
        has_hits = np.zeros(n, dtype=bool)
        if matches:
            a = np.fromiter(chain.from_iterable(matches), dtype=np.int64, count=3 * len(matches)).reshape(-1, 3)
            pid, s, e = a[:, 0], a[:, 1], a[:, 2]
            o = np.lexsort((s - e, s))  # by start, longest first: as score()
            pid, s, e = pid[o], s[o], e[o]
            msg = np.searchsorted(mstart, s, side="right") - 1
            has_hits[msg] = True
            for head, is_cue, (cnt, first, cls, w), out in (("k", t["is_k"], t["k"], K), ("t", t["is_t"], t["t"], T)):
                sel = is_cue[pid]
                hp, he, hm = pid[sel], e[sel], msg[sel]
                if not len(hp):
                    setattr(self, head + "_hits", (hp, hm))
                    continue
                # counted when it ends after every earlier cue of its head (its
                # text's positions are after those of the texts before it)
                prev = np.empty(len(he), dtype=np.int64)
                prev[0] = -1
                np.maximum.accumulate(he[:-1], out=prev[1:])
                keep = he > prev
                hp, hm = hp[keep], hm[keep]
                c = cnt[hp]
                # expand each counted hit into its (class, weight) moves, in order
                idx = np.repeat(first[hp] - np.cumsum(c) + c, c) + np.arange(c.sum())
                out += np.bincount(np.repeat(hm, c) * out.shape[1] + cls[idx], weights=w[idx],
                                   minlength=n * out.shape[1]).reshape(n, out.shape[1])
                setattr(self, head + "_hits", (hp, hm))
            gm = t["gmask"][pid]
            if gm.any():
                acc = np.zeros(n, dtype=np.int64)
                np.bitwise_or.at(acc, msg, gm)
                for idx, (mask, head, ci, cls, name, weight) in enumerate(t["together"]):
                    if mask < 0:
                        continue
                    hit = (acc & mask) == mask
                    within = rules.together_within[idx]
                    if within is not None:
                        # the few texts where every group occurs: measured one by one, as score()
                        # does, on the hits already found (by start, as Rules.hits gives them)
                        n_groups = rules.together[idx][4]
                        by_id = rules._by_id
                        for i in np.flatnonzero(hit).tolist():
                            lo, hi = np.searchsorted(msg, (i, i + 1)).tolist()
                            at = int(mstart[i])
                            found = [(st - at, st - en, by_id[p]) for p, st, en in
                                     zip(pid[lo:hi].tolist(), s[lo:hi].tolist(), e[lo:hi].tolist())]
                            if _span(found, idx, n_groups) > within:
                                hit[i] = False
                    if hit.any():
                        (K if head == "kind" else T)[hit, ci] += weight
                        fired_together.append((hit, head, cls, name))
            for ci, minimum, losers, by in t["dominates"]:
                m = has_hits & (K[:, ci] >= minimum)
                if m.any():
                    for li in losers:
                        K[m, li] -= by
        self.together = fired_together
        self.whole = np.zeros(n, dtype=bool)
        wo = rules.whole_other
        if wo:
            # a greeting etc. as the whole text: only texts of at most 24
            # characters, with no more letters and digits than the longest
            # such phrase (counted by numpy), are compared one by one
            cand = lens <= 24
            if cand.any():
                codes = code_points(np, joined)
                if codes is not None:  # None for a lone surrogate: every short text is compared
                    bmp = codes < 0x10000  # beyond: not counted, so such texts stay candidates
                    alnum = np.zeros(len(codes), dtype=bool)
                    alnum[bmp] = _alnum_bmp(np)[codes[bmp]]
                    text_of = np.repeat(np.arange(n), lens + 1)[: len(codes)]
                    cand &= np.bincount(text_of[alnum], minlength=n) <= rules._whole_max
                for i in np.flatnonzero(cand).tolist():
                    self.whole[i] = _alnum(norms[i]) in wo
            K[self.whole, KINDS.index("other")] += 20.0
        self.kind, self.topic = K, T

    def matched_all(self, head: str, best, fired) -> list:
        """For every text i where ``fired[i]``: ``matched(i, head, class
        best[i])`` (``best``: class indices in KINDS/TOPICS order, an array),
        or None where it is empty; None where not fired. The cues of all
        texts are selected by numpy and only the shown ones visited."""
        import numpy as np

        out: list = [None] * self.n

        def note(i: int, text: str) -> None:  # _note, for a list of lists
            lst = out[i]
            if lst is None:
                out[i] = [text]
            elif text not in lst:
                lst.append(text)

        names = KINDS if head == "kind" else TOPICS
        hits = self.k_hits if head == "kind" else self.t_hits
        if hits is not None and len(hits[0]):
            hp, hm = hits
            sel = self.t["shown_k" if head == "kind" else "shown_t"][hp, best[hm]] & fired[hm]
            texts = self.rules._texts
            for i, p in zip(hm[sel].tolist(), hp[sel].tolist()):
                note(i, texts[p])
        for hit, h, cls, name in self.together:
            if h == head:
                for i in np.flatnonzero(hit & fired & (best == names.index(cls))).tolist():
                    note(i, name)
        if head == "kind":
            for i in np.flatnonzero(self.whole & fired & (best == KINDS.index("other"))).tolist():
                note(i, self.norms[i])
        return out

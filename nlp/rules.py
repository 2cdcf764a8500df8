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
from pathlib import Path

import yaml

try:  # optional accelerator: the same hits, found in Rust
    import ahocorasick_rs
except ImportError:  # pragma: no cover - the Python scan below finds the same hits
    ahocorasick_rs = None

from .base import KINDS, TOPICS
from .textnorm import normalize

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

    def any_kind(self) -> bool:
        return any(v > 0 for v in self.kind_scores.values())

    def any_topic(self) -> bool:
        return any(v > 0 for v in self.topic_scores.values())


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
        self.whole_other: set[str] = set()

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
        self._ac = None
        if ahocorasick_rs is not None and self._by_id:
            self._ac = ahocorasick_rs.AhoCorasick([ph.text for ph in self._by_id],
                                                  matchkind=ahocorasick_rs.MatchKind.Standard)

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
                for idx, (head, cls, name, weight, n) in enumerate(self.together):
                    if all((idx, g) in groups_hit for g in range(n)):
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


def _note(d: dict, cls: str, text: str) -> None:
    lst = d.get(cls)
    if lst is None:
        d[cls] = [text]
    elif text not in lst:
        lst.append(text)


_NOT_ALNUM = re.compile(r"[\W_]+")  # \w is str.isalnum() plus "_"


def _alnum(s: str) -> str:
    """Only the letters and digits of ``s`` (as ``str.isalnum``)."""
    return _NOT_ALNUM.sub("", s)

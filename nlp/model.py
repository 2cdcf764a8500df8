"""Inference for the learned stage: a linear model scored with one dict lookup per feature.

A model file is JSON:

    {"format": "gov-intake-linear/1",
     "features": {"ngram_max": 3, "words": false, "scale": "l2", "idf": false},
     "heads": {"kind": {"classes": [...], "bias": [...], "rule_weight": 0.1}, "topic": {...}},
     "weights": {"feature": [w for every class of every head, in head order (, idf)]},
     "meta": {...}}

Features are binary (present or not). With ``"scale": "l2"`` the feature
vector is L2-normalised; with ``"idf": true`` every feature is weighted by
its inverse document frequency (stored as the last value of its list; a
feature the model never saw counts with ``idf_unseen``) before the norm, i.e.
TF-IDF with binary term frequency. A head's optional ``rule_weight`` is how
much ``nlp.classifier`` counts the rules beside this model (chosen when the
model was trained; without it the classifier's default).

Scoring. At load time each feature's values are packed into ONE Python int
(fixed-point, 32 or 64 bits per slot: a count, the feature's squared idf, and one
slot per class, offset so that every slot stays non-negative). Scoring a text
is then ``sum(filter(None, map(packed.get, features)))`` (a single pass in C
with one big-int addition per known feature) and one ``int.to_bytes`` +
``struct.unpack`` to read the per-class sums back. This is exact for weights stored
with four decimals (idf-weighted ones to 1e-4) and several times faster than summing per-class lists. No numpy or
scikit-learn is needed to classify one message; ``scores_batch`` (the batch CLI) uses numpy.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from .features import featurize, fold_digits
from .textnorm import MAX_CHARS, code_points, join_texts

FORMAT = "gov-intake-linear/1"

_SCALE = 10_000  # fixed point: 1e-4, the precision of the weights in the file


class ModelError(ValueError):
    pass


class LinearModel:
    def __init__(self, data: dict, source: str = "<model>"):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: not a gov-intake model file (format {FORMAT!r} expected)")
        self.source = source
        feats = data.get("features") or {}
        self.ngram_max = int(feats.get("ngram_max", 3))
        self.use_words = bool(feats.get("words", True))
        self.scale = feats.get("scale", "l2")
        self.use_idf = bool(feats.get("idf", False))
        self.meta = data.get("meta") or {}
        self.heads: dict[str, tuple[int, list[str], list[float]]] = {}
        # head -> the weight of the rules' scores beside this model's values
        self.rule_weights: dict[str, float] = {}
        offset = 0
        for name, h in data["heads"].items():
            classes = list(h["classes"])
            bias = [float(b) for b in h["bias"]]
            if len(bias) != len(classes):
                raise ModelError(f"{source}: head {name}: bias and classes differ in length")
            self.heads[name] = (offset, classes, bias)
            if h.get("rule_weight") is not None:
                rw = h["rule_weight"]
                if type(rw) not in (int, float) or not 0.0 <= rw <= 100.0:
                    raise ModelError(f"{source}: head {name}: rule_weight must be a number from 0 to 100, not {rw!r}")
                self.rule_weights[name] = float(rw)
            offset += len(classes)
        self.width = offset
        self.bias = [b for _, _, bias in self.heads.values() for b in bias]
        weights: dict[str, list[float]] = data["weights"]
        expect = offset + (1 if self.use_idf else 0)
        for f, w in weights.items():
            if len(w) != expect:
                raise ModelError(f"{source}: weights of {f!r} have {len(w)} values, expected {expect}")
        self.weights = weights
        idfs = [w[-1] for w in weights.values()] if self.use_idf else []
        self.idf_unseen = float(feats.get("idf_unseen", max(idfs, default=1.0)))
        self._pack(weights)
        self._shown: dict = {}  # is_word -> {feature: text shown to staff}
        self._positive: dict = {}  # (is_word, head, class) -> see _positive_features
        self._evidence_orders: dict = {}  # (is_word, head) -> see _evidence_order

    def _pack(self, weights: dict[str, list[float]]) -> None:
        """Pack each feature's values into one int (see the module doc).

        Slots: 0 = 1 (a count), 1 = idf squared, 2.. = weight (times idf) per
        class plus an offset that keeps it non-negative. The slot width (32 or
        64 bits) is chosen so that the sum over the most features a text can
        have (MAX_CHARS × (ngram_max + 1)) cannot carry into the next slot."""
        use_idf = self.use_idf
        q = {}
        big = 0
        for f, w in weights.items():
            idf = w[-1] if use_idf else 1.0
            vals = [round(x * idf * _SCALE) for x in w[: self.width]]
            q[f] = (round(idf * idf * _SCALE) if use_idf else 0, vals)
            big = max(big, max(map(abs, vals), default=0))
        off = 1 << max(1, big.bit_length())  # > |any weight slot|
        max_feats = MAX_CHARS * (self.ngram_max + 1)
        max_idf2 = max((i for i, _ in q.values()), default=0)
        need = max(2 * off, max_idf2 + 1).bit_length() + max_feats.bit_length()
        bits = 32 if need <= 32 else 64
        if need > 64:
            raise ModelError(f"{self.source}: weights too large to score (|w| up to {big / _SCALE:g})")
        nslots = 2 + self.width
        self._off = off
        self._nbytes = nslots * bits // 8
        self._unpack = struct.Struct(f"<{nslots}{'I' if bits == 32 else 'Q'}").unpack
        shifts = [bits * (2 + j) for j in range(self.width)]
        base = 1 + sum(off << s for s in shifts)
        packed = {}
        for f, (idf2, vals) in q.items():
            v = base + (idf2 << bits)
            for s, x in zip(shifts, vals):
                v += x << s
            packed[f] = v
        self._packed = packed
        self._batch = None  # tables of scores_batch, built on first use

    # ------------------------------------------------------- batch scoring
    def _batch_tables(self):
        """For ``scores_batch``: the model's characters numbered densely
        (code point -> id from 1, 0 for a character in no feature), and a
        matrix of the same fixed-point integer weights as the packed ints
        (float64 when no text's sum can exceed 2**53, int64 otherwise), one
        row per feature in file order from 1 (row 0: unknown, all zero)."""
        import numpy as np

        alphabet = sorted({ch for f in self.weights if _is_char_gram(f) for ch in f})
        code2id = np.zeros(0x110000, dtype=np.int64)
        code2id[[ord(ch) for ch in alphabet]] = np.arange(1, len(alphabet) + 1)
        W = np.zeros((len(self.weights) + 1, self.width), dtype=np.int64)
        for i, f in enumerate(self.weights, 1):
            if _is_char_gram(f):
                W[i] = [round(x * _SCALE) for x in self.weights[f][: self.width]]
        if int(np.abs(W).max(initial=0)) * MAX_CHARS * (self.ngram_max + 1) < 2**53:
            W = W.astype(np.float64)  # sums of these integers are exact in float64, and summed faster
        return code2id, len(alphabet) + 1, W, {}

    def _gram_table(self, bits: int) -> "_GramTable":
        """The model's n-grams keyed as ``scores_batch`` keys them with
        ``bits`` bits per character id (built once per width)."""
        code2id, _, _, by_bits = self._batch
        table = by_bits.get(bits)
        if table is None:
            keys, rows = [], []
            for i, f in enumerate(self.weights, 1):
                if _is_char_gram(f):
                    k = 0
                    for ch in f:
                        k = (k << bits) | int(code2id[ord(ch)])
                    keys.append(k)
                    rows.append(i)
            table = by_bits[bits] = _GramTable(keys, rows)
        return table

    def scores_batch(self, norms: list[str], *, as_array: bool = False, with_rows: bool = False):
        """``[self.raw_scores(n) for n in norms]``, equal to the last bit, for
        a batch of normalised texts, by numpy: every character gets a dense
        id (the model's characters first, then the batch's others), each
        1-, 2- and 3-gram of a text becomes one int64 key (text, ids), one
        sort deduplicates them per text, a hash table gives the known ones'
        weight rows, and their exact sums go through the same float
        operations as ``scores_of``. None when this model or batch needs the
        one-by-one path (jieba words, TF-IDF, n-grams over 3, NUL or
        unencodable characters, too many distinct characters, no numpy)."""
        if self.use_words or self.use_idf or self.ngram_max > 3 or not norms:
            return None
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy comes with scikit-learn
            return None
        joined = join_texts(norms)
        if joined is None:
            return None
        c = code_points(np, fold_digits(joined))  # digits never span two texts: as per text
        if c is None:
            return None
        c = c.astype(np.int64)
        if self._batch is None:
            self._batch = self._batch_tables()
        code2id, base, W, _ = self._batch
        n = len(norms)
        ids = code2id[c]
        live = c != 0  # NUL separates texts
        other = live & (ids == 0)
        top = base
        if other.any():  # characters in no feature: ids after the model's
            oc = c[other]
            distinct = np.unique(oc)
            ids[other] = base + np.searchsorted(distinct, oc)
            top += len(distinct)
        bits = top.bit_length()
        gram_bits = self.ngram_max * bits
        if gram_bits + n.bit_length() > 62:
            return None
        lens = np.fromiter(map(len, norms), dtype=np.int64, count=n)
        text = np.repeat(np.arange(n, dtype=np.int64) << gram_bits, lens + 1)[: len(c)]
        # ids are >= 1, so a 1-gram key < a 2-gram key < a 3-gram key; not the unigram " "
        keys = [(text | ids)[live & (c != 32)]]
        if self.ngram_max >= 2 and len(c) > 1:
            live2 = live[:-1] & live[1:]
            ids2 = (ids[:-1] << bits) | ids[1:]
            keys.append((text[:-1] | ids2)[live2])
            if self.ngram_max >= 3 and len(c) > 2:
                keys.append((text[:-2] | (ids2[:-1] << bits) | ids[2:])[live2[:-1] & live[2:]])
        G = np.concatenate(keys)
        G.sort()  # by text, then n-gram
        if len(G) > 1:
            G = G[np.concatenate(([True], G[1:] != G[:-1]))]  # binary features: each once per text
        of_text = G >> gram_bits
        n_feats = np.bincount(of_text, minlength=n)
        rows = self._gram_table(bits).rows(G & ((1 << gram_bits) - 1))
        known = rows > 0
        pr = rows[known]
        n_known = np.bincount(of_text[known], minlength=n)
        sums = _row_sums(np, W, pr, n_known, n)
        bias = np.array(self.bias, dtype=np.float64)
        if self.scale == "l2":
            with np.errstate(divide="ignore"):
                k = 1.0 / (_SCALE * np.sqrt(n_feats.astype(np.float64)))
        else:
            k = np.full(n, 1.0 / _SCALE)
        with np.errstate(invalid="ignore"):
            raw = bias + k[:, None] * sums
        raw[n_known == 0] = bias  # no known feature: the bias alone, as scores_of
        if with_rows:  # also: the rows of each text's known features (rows[bounds[i]:bounds[i + 1]], an array)
            bounds = [0]
            bounds += np.cumsum(n_known).tolist()
            return raw, pr, bounds
        return raw if as_array else raw.tolist()

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{path}: cannot read model: {e}") from None
        return cls(data, str(path))

    def features(self, norm: str) -> set[str]:
        return featurize(norm, ngram_max=self.ngram_max, words=self.use_words)

    def raw_scores(self, norm: str) -> list[float]:
        """Decision values for every class of every head (head order)."""
        return self.scores_of(self.features(norm))

    def scores_of(self, feats: set[str]) -> list[float]:
        total = sum(filter(None, map(self._packed.get, feats)))
        if not total:
            return list(self.bias)
        vals = self._unpack(total.to_bytes(self._nbytes, "little"))
        n = vals[0]
        if self.scale == "l2":
            if self.use_idf:
                u = self.idf_unseen
                norm2 = vals[1] / _SCALE + (len(feats) - n) * u * u
            else:
                norm2 = len(feats)
            k = 1.0 / (_SCALE * math.sqrt(norm2))
        else:
            k = 1.0 / _SCALE
        off = n * self._off
        return [b + k * (v - off) for b, v in zip(self.bias, vals[2:])]

    def head_scores(self, raw: list[float], head: str) -> dict[str, float] | None:
        h = self.heads.get(head)
        if h is None:
            return None
        off, classes, _ = h
        return dict(zip(classes, raw[off : off + len(classes)]))

    def evidence(self, feats, head: str, cls: str, n: int = 3, is_word=None) -> list[str]:
        """The features that pushed ``head`` towards ``cls`` most (weight on
        ``cls`` above the mean of the head's classes), for the staff's 'why'.
        Only n-grams that are words (``is_word``, e.g. in jieba's dictionary)
        are shown, so a staff member reads 车位, not 位租金; among
        overlapping ones the longer is kept."""
        h = self.heads.get(head)
        if h is None or cls not in h[1]:
            return []
        pos = self._positive_of(head, cls, is_word)
        return _pick([pos[f] for f in pos.keys() & feats], n)

    def prepare_batch(self, is_word=None) -> None:
        """Build the tables of ``scores_batch`` and ``evidence_batch`` now
        (they are otherwise built on first use)."""
        self.scores_batch(["预热"])
        if self._batch is not None:  # the hash tables of the widths a chunk's other characters lead to
            width = self._batch[1].bit_length()
            for bits in range(width, width + 4):
                self._gram_table(bits)
        for head in self.heads:
            self._evidence_order(head, is_word)

    def evidence_batch(self, rows, bounds: list[int], texts: list[int], classes: list[str], head: str,
                       n: int = 3, is_word=None) -> list[list[str]]:
        """``evidence`` of many texts of a ``scores_batch(..., with_rows=True)``
        (``rows``, ``bounds``): for each text index of ``texts``, the words
        for its class in ``classes``. Only known features can be evidence, so
        the words are the same. The candidates of all texts are gathered and
        put in order (the order of ``_pick``, fixed per class) by numpy."""
        import numpy as np

        h = self.heads.get(head)
        if h is None or not texts:
            return [[] for _ in texts]
        rank, row_at, at, shown = self._evidence_order(head, is_word)
        cls_index = {c: k for k, c in enumerate(h[1])}
        ci = np.array([cls_index.get(c, -1) for c in classes], dtype=np.int64)
        b = np.asarray(bounds, dtype=np.int64)
        t = np.asarray(texts, dtype=np.int64)
        first, count = b[t], b[t + 1] - b[t]
        item = np.repeat(np.arange(len(t), dtype=np.int64), count)  # the rows of every wanted text
        r = rows[np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum(), dtype=np.int64)]
        rk = np.where(ci[item] >= 0, rank[r, ci[item]], _NO_RANK)
        ok = rk < _NO_RANK
        key = (item[ok] << 32) | rk[ok]
        key.sort()  # by text, then the class's order of candidates
        of_item = key >> 32
        cand_rows = row_at[at[ci[of_item]] + (key & 0xFFFFFFFF)].tolist()
        cut = np.searchsorted(of_item, np.arange(len(t) + 1)).tolist()
        return [_pick_in_order([shown[x] for x in cand_rows[cut[k] : cut[k + 1]]], n) for k in range(len(t))]

    def _evidence_order(self, head: str, is_word):
        """For ``evidence_batch``: per row (``scores_batch``'s numbering) and
        class of ``head``, the row's place in ``_pick``'s order of that
        class's candidates (``_NO_RANK``: not a candidate); the rows in that
        order, all classes one after the other, from ``at[class]``; the text
        shown for each row."""
        import numpy as np

        key = (is_word, head)
        got = self._evidence_orders.get(key)
        if got is None:
            classes = self.heads[head][1]
            row_of = {f: i for i, f in enumerate(self.weights, 1)}
            rank = np.full((len(self.weights) + 1, len(classes)), _NO_RANK, dtype=np.int64)
            shown: list = [None] * (len(self.weights) + 1)
            row_at: list[int] = []
            at = []
            for k, cls in enumerate(classes):
                ordered = sorted(self._positive_of(head, cls, is_word).items(), key=lambda item: _evidence_key(item[1]))
                at.append(len(row_at))
                for place, (f, (_, text)) in enumerate(ordered):
                    row = row_of[f]
                    rank[row, k] = place
                    shown[row] = text
                    row_at.append(row)
            got = self._evidence_orders[key] = (rank, np.array(row_at, dtype=np.int64),
                                                np.array(at, dtype=np.int64), shown)
        return got

    def _positive_of(self, head: str, cls: str, is_word) -> dict:
        """``_positive_features``, built once per (is_word, head, class)."""
        key = (is_word, head, cls)
        pos = self._positive.get(key)
        if pos is None:
            pos = self._positive[key] = self._positive_features(head, cls, is_word)
        return pos

    def _positive_features(self, head: str, cls: str, is_word) -> dict:
        """{feature: (weight on ``cls`` above the head's mean (times idf),
        text shown)} of the showable features that push ``head`` towards
        ``cls``."""
        off, classes, _ = self.heads[head]
        j = off + classes.index(cls)
        lo, hi = off, off + len(classes)
        ncls = len(classes)
        use_idf = self.use_idf
        # the model features that can be shown (words, built once per is_word)
        shown = self._shown.get(is_word)
        if shown is None:
            shown = self._shown[is_word] = {
                f: (f[2:] if f.startswith("w|") else f) for f in self.weights
                if len(f) - (2 if f.startswith("w|") else 0) >= 2
                and "0" not in f  # digits are folded to 0: not the writer's text
                and (is_word is None or is_word(f[2:] if f.startswith("w|") else f))}
        weights = self.weights
        pos = {}
        for f, text in shown.items():
            w = weights[f]
            c = w[j] - sum(w[lo:hi]) / ncls
            if c > 0:
                pos[f] = (c * w[-1] if use_idf else c, text)
        return pos


_NO_RANK = 1 << 31


def _pick(cands: list, n: int) -> list[str]:
    """The n strongest candidates (weight, text); of overlapping texts the longer."""
    cands.sort(key=_evidence_key)
    return _pick_in_order([text for _, text in cands], n)


def _pick_in_order(texts: list[str], n: int) -> list[str]:
    """``_pick`` of candidates already in order, strongest first."""
    out: list[str] = []
    for text in texts:
        for i, o in enumerate(out):
            if text in o:
                break
            if o in text:
                out[i] = text
                break
        else:
            out.append(text)
            if len(out) >= n:
                break
    return out


def _evidence_key(cand):
    c, text = cand
    return (-c, -len(text), text)


def softmax(scores: dict[str, float]) -> dict[str, float]:
    m = max(scores.values())
    ex = {k: math.exp(v - m) for k, v in scores.items()}
    z = sum(ex.values())
    return {k: v / z for k, v in ex.items()}


def _is_char_gram(f: str) -> bool:
    return 1 <= len(f) <= 3 and not f.startswith("w|")


class _GramTable:
    """An open-addressing hash table (linear probing) from int64 n-gram keys
    to weight rows, looked up for a whole array at once by numpy: one
    gather resolves almost every key (the table is at most a quarter full),
    the few that land on another key probe on."""

    _MULT = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads structured keys

    def __init__(self, keys: list[int], rows: list[int]):
        import numpy as np

        size = 1 << max(4, (4 * len(keys)).bit_length())
        self._shift = np.uint64(64 - (size.bit_length() - 1))
        self._mask = size - 1
        slot_key = [-1] * size
        slot_row = [0] * size
        for k, r, s in zip(keys, rows, self._slots(np.array(keys, dtype=np.int64)).tolist()):
            while slot_key[s] != -1:
                s = (s + 1) & self._mask
            slot_key[s], slot_row[s] = k, r
        self._keys = np.array(slot_key, dtype=np.int64)
        self._rows = np.array(slot_row, dtype=np.int64)

    def _slots(self, keys):
        import numpy as np

        return (keys.astype(np.uint64) * np.uint64(self._MULT) >> self._shift).astype(np.int64)

    def rows(self, keys):
        """The row of each key, 0 for a key not in the table."""
        import numpy as np

        s = self._slots(keys)
        got = self._keys[s]
        hit = got == keys
        out = np.where(hit, self._rows[s], 0)
        idx = np.flatnonzero(~hit & (got != -1))
        if len(idx):
            keys, s = keys[idx], s[idx]
            while len(idx):
                s = (s + 1) & self._mask
                got = self._keys[s]
                hit = got == keys
                out[idx[hit]] = self._rows[s[hit]]
                more = ~hit & (got != -1)
                idx, keys, s = idx[more], keys[more], s[more]
        return out


def _row_sums(np, W, pr, n_known, n):
    """Per text, the exact sum of the integer weight rows ``pr`` (sorted by
    text, ``n_known`` of them for each), as float64. A sparse (texts x rows) matrix of ones times W
    is 4 times faster than gathering W[pr] and reducing it (scipy comes with
    scikit-learn); numpy alone otherwise."""
    try:
        from scipy.sparse import csr_matrix
    except ImportError:  # pragma: no cover
        csr_matrix = None
    if csr_matrix is not None:
        indptr = np.concatenate(([0], np.cumsum(n_known)))
        S = csr_matrix((np.ones(len(pr), dtype=W.dtype), pr, indptr), shape=(n, W.shape[0]))
        return (S @ W).astype(np.float64, copy=False)
    sums = np.zeros((n, W.shape[1]))
    has = n_known > 0
    if has.any():
        # pairs are sorted by text: one reduceat over the rows of the texts with known features
        starts = (np.cumsum(n_known) - n_known)[has]
        sums[has] = np.add.reduceat(W[pr], starts, axis=0)
    return sums

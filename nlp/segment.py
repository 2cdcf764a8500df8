"""jieba segmentation, initialised once with the office's user dictionary, quiet.

Two engines give the same cuts: jieba-rs (through ``rjieba``), the Rust port
of jieba with the same dictionary and algorithm, used when it is installed,
and jieba itself, the reference and the fallback. jieba-rs cuts a message
about 16 times faster, which matters on every path a message takes (the
WeChat reply, the batch classifier, search indexing); tests/test_segment.py
holds the two to identical cuts on the labelled messages.

``init()`` is called by ``load_classifier`` at start-up so that the first
request does not pay for building the dictionary. HMM (jieba's guess at
words not in the dictionary) stays off: it is slower, and the user
dictionary holds the domain words it would otherwise have to guess.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

USER_DICT = Path(__file__).with_name("userdict.txt")

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine = None


class JiebaEngine:
    """jieba itself (pure Python)."""

    name = "jieba"

    def __init__(self, user_dict: Path | None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jieba

            # jieba logs "Building prefix dict…" at DEBUG on its own logger
            jieba.setLogLevel(logging.WARNING)
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tk = jieba.Tokenizer()
            tk.initialize()
            if user_dict is not None and user_dict.exists():
                tk.load_userdict(str(user_dict))
        self._tk = tk

    def words(self, text: str) -> list[str]:
        return self._tk.lcut(text, HMM=False)

    def search_words(self, text: str) -> list[str]:
        return self._tk.lcut_for_search(text, HMM=False)

    def is_word(self, text: str) -> bool:
        return self._tk.FREQ.get(text, 0) > 0  # FREQ also holds prefixes, at 0


class RustJiebaEngine:
    """jieba-rs through rjieba: jieba's dictionary and algorithm in Rust."""

    name = "jieba-rs"

    def __init__(self, user_dict: Path | None):
        import rjieba

        jb = rjieba.Jieba()
        for word, freq, tag in _user_words(user_dict):
            jb.add_word(word, freq, tag)
        self._jb = jb
        self.words = lambda text: jb.cut(text, False)
        self.search_words = lambda text: jb.cut_for_search(text, False)
        self.is_word = jb.has_word


def _user_words(path: Path | None):
    """(word, freq or None, tag or None) per line, as jieba's load_userdict
    reads them: ``word [freq] [tag]``."""
    if path is None or not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split()
        if not parts:
            continue
        word, rest = parts[0], parts[1:]
        freq = int(rest.pop(0)) if rest and rest[0].isdigit() else None
        yield word, freq, (rest[0] if rest else None)


def make_engine(name: str | None = None, user_dict: Path | None = USER_DICT):
    """``name``: "jieba-rs", "jieba", or None for the fastest installed."""
    if name in (None, "jieba-rs"):
        try:
            return RustJiebaEngine(user_dict)
        except ImportError:
            if name is not None:
                raise
            log.info("rjieba is not installed: segmenting with jieba (slower)")
    return JiebaEngine(user_dict)


def init():
    """The process-wide engine, built on first call."""
    global _engine
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            _engine = make_engine()
    return _engine


def words(text: str) -> list[str]:
    """jieba's precise cut (HMM off)."""
    return (_engine or init()).words(text)


def search_words(text: str) -> list[str]:
    """jieba's search cut: long words also yield their parts (人防车位 → 人防, 车位)."""
    return (_engine or init()).search_words(text)


def is_word(text: str) -> bool:
    """True when ``text`` is a word of jieba's dictionary or the user
    dictionary (not just a prefix of one)."""
    return (_engine or init()).is_word(text)

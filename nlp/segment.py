"""jieba, initialised once with the office's user dictionary, quiet.

``init()`` is called by ``load_classifier`` at start-up so that the first
request does not pay for building jieba's prefix dictionary (~1 s).
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

USER_DICT = Path(__file__).with_name("userdict.txt")

_lock = threading.Lock()
_tokenizer = None


def init():
    """Return the process-wide jieba tokenizer, building it on first call."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is not None:
            return _tokenizer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jieba

            # jieba logs "Building prefix dict…" at DEBUG on its own logger
            jieba.setLogLevel(logging.WARNING)
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tk = jieba.Tokenizer()
            tk.initialize()
            if USER_DICT.exists():
                tk.load_userdict(str(USER_DICT))
        _tokenizer = tk
    return tk


def words(norm: str) -> list[str]:
    """jieba tokens (HMM off: faster, and the user dictionary covers the
    domain words HMM would otherwise have to guess)."""
    tk = _tokenizer or init()
    return tk.lcut(norm, HMM=False)


def is_word(text: str) -> bool:
    """True when ``text`` is a word of jieba's dictionary or the user
    dictionary (not just a prefix of one)."""
    tk = _tokenizer or init()
    return tk.FREQ.get(text, 0) > 0

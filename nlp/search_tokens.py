"""Search tokens: the words a case is found by, and the words of a query.

A case keeps ``search_tokens``: its title and first message cut by jieba's
search mode (long words also yield their parts, so 车位 finds 人防车位),
normalised to what SQLite FTS5's unicode61 tokenizer would keep (NFKC,
lower case, letters and digits only), space-separated. A query is cut the
same way and every token must be present (storage/search.py matches them
in SQL, the same way on SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from . import segment
from .textnorm import CACHE_TEXT_MAX

# Letters and digits: what unicode61 keeps in a token (it splits on the rest).
_TOKEN = re.compile(r"[^\W_]+")
MAX_QUERY_TOKENS = 12


def _normalise(tokens) -> list[str]:
    """Each token NFKC-normalised, lower-cased and split into its runs of
    letters and digits, done once over the tokens joined by newlines
    instead of token by token (a third of the cost): a newline composes
    with nothing and is neither a letter nor cased, so no run, composition
    or final-sigma rule crosses it, and the result is the same."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", "\n".join(tokens)).lower())


def document_tokens(*texts: str | None) -> str:
    """The value of ``cases.search_tokens`` for a case's title and text.

    Short texts are remembered: the same ones recur (greetings, "人工", the
    day's question on a siren day), and the classifier and the knowledge
    base remember theirs the same way."""
    if all(t is None or len(t) <= CACHE_TEXT_MAX for t in texts):
        return _remembered_tokens(texts)
    return _document_tokens(texts)


def _document_tokens(texts: tuple[str | None, ...]) -> str:
    joined = unicodedata.normalize("NFKC", "\n".join(t for t in texts if t))
    if not joined:
        return ""
    seen: dict[str, None] = {}
    for tok in _normalise(segment.search_words(joined)):
        seen.setdefault(tok, None)
    return " ".join(seen)


# The day's recurring texts; small, so that an import of new texts does not
# grow the process with it.
_remembered_tokens = lru_cache(maxsize=512)(_document_tokens)


def query_tokens(query: str) -> list[str]:
    """The tokens a search must all find; empty when the query has none."""
    seen: dict[str, None] = {}
    for tok in _normalise(segment.words(unicodedata.normalize("NFKC", query))):
        seen.setdefault(tok, None)
    return list(seen)[:MAX_QUERY_TOKENS]

"""Full-text search in SQL, the same on SQLite and PostgreSQL: a case's
``search_tokens`` (space-separated words, made by nlp/search_tokens.py)
must hold every token of the query. SQLite matches through an FTS5 index
over that column; PostgreSQL through a GIN index on its token array. Both
compare whole tokens, so both give the same results.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import NullType


class TokenMatch(ColumnElement):
    """``cases`` rows whose search_tokens hold every one of ``tokens``."""

    # No Boolean type: SQLAlchemy would write "(…) = 1" for one on SQLite,
    # which hides the IN (…) from the planner (a full scan); the compiled
    # condition is boolean in itself.
    type = NullType()
    inherit_cache = False  # the tokens are part of the SQL: nothing to cache

    def __init__(self, id_column, tokens_column, tokens: list[str]):
        self.id_column = id_column
        self.tokens_column = tokens_column
        self.tokens = list(tokens)


@compiles(TokenMatch, "sqlite")
def _match_sqlite(element: TokenMatch, compiler, **kw) -> str:
    # Each token quoted as an FTS5 string: no operator can be smuggled in.
    expr = " AND ".join('"' + t.replace('"', '""') + '"' for t in element.tokens)
    param = compiler.process(bindparam(None, expr, unique=True), **kw)
    return (f"{compiler.process(element.id_column, **kw)} IN "
            f"(SELECT rowid FROM cases_fts WHERE cases_fts MATCH {param})")


@compiles(TokenMatch, "postgresql")
def _match_pg(element: TokenMatch, compiler, **kw) -> str:
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.types import Text

    param = compiler.process(bindparam(None, element.tokens, type_=ARRAY(Text), unique=True), **kw)
    # Must match the expression of ix_cases_search_tokens exactly.
    return f"string_to_array({compiler.process(element.tokens_column, **kw)}, ' ') @> {param}"


@compiles(TokenMatch)
def _match_other(element: TokenMatch, compiler, **kw) -> str:
    raise NotImplementedError("full-text search needs SQLite or PostgreSQL")

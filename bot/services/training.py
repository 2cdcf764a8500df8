"""What staff taught the classifier: their reclassifications."""

from __future__ import annotations

from storage.database import Database
from storage.queries import cases as q


async def corrections(db: Database) -> list[tuple[str, str, str]]:
    """(text, kind, topic) of every staff reclassification, oldest first."""
    return await db.read(lambda tx: q.corrections(tx.session))

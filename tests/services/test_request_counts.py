"""The hourly clean-up of the public pages' per-address counts
(bot/services/ops.py): windows long over are dropped, current ones kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.services import ops
from storage.queries import throttle


async def test_counts_of_windows_long_over_are_dropped(server):
    rt = server.runtime
    now = datetime.now(timezone.utc)
    minute = timedelta(minutes=1)
    await rt.db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.1", now - timedelta(days=2), minute))
    await rt.db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.2", now, minute))
    assert await ops.forget_old_request_counts(rt) == 1
    # The current window goes on counting.
    assert await rt.db.write(lambda tx: throttle.count_request(tx.session, "track:10.0.0.2", now, minute)) == 2

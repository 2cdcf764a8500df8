"""`kill -9` of the real `intake serve` while WeChat and the 12345 platform
push to it and retry as they do (tests/chaos_load.py), on SQLite and
PostgreSQL: nothing acknowledged is lost, nothing is stored twice, no reply
names a case that does not hold its message. bench/chaos.py is the long run
of the same."""

from __future__ import annotations

from tests.chaos_load import ChaosLoad, verdict
from tests.conftest import WECHAT
from tests.intake_process import IntakeProcess, free_port
from tests.wechat_peer import WeChatPeer

SECRET = "chaos-hotline-secret"


async def test_kill_9_under_wechat_and_12345_load_loses_and_doubles_nothing(db_url, tmp_path):
    env = {"INTAKE_DATABASE_URL": db_url, "INTAKE_SECRET_KEY": "chaos", "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_WECHAT_TOKEN": WECHAT["token"], "INTAKE_WECHAT_AES_KEY": WECHAT["aes_key"],
           "INTAKE_WECHAT_APP_ID": WECHAT["app_id"], "INTAKE_HOTLINE_SECRET": SECRET,
           "INTAKE_HOTLINE_SYNC_MINUTES": "0"}
    server = IntakeProcess(env, free_port(), tmp_path / "serve.log", cwd=tmp_path)
    peer = WeChatPeer(WECHAT["token"], WECHAT["aes_key"], WECHAT["app_id"], WECHAT["account"])
    await server.start()
    try:
        load = ChaosLoad(server, peer, SECRET, wechat_clients=8, hotline_clients=2, batch=10)
        tally = await load.run(kills=2, acked_between=30, tail_acked=20)
    finally:
        stopped = server.stop()
    assert stopped == 0, server.tail()

    # The kills happened under load and the platforms had to retry.
    assert server.kills == 2 and all(n > 0 for n in tally.in_flight_at_kill), tally.in_flight_at_kill
    assert sum(tally.retried.values()) > 0, tally.retried
    assert tally.refused == []
    result = await verdict(db_url, tally)
    assert result.wechat_acked == len(tally.wechat_sent) > 0  # every push was acknowledged in the end
    assert result.hotline_acked == len(tally.hotline_sent) > 0
    assert (result.lost, result.doubled, result.false_receipts) == ([], [], [])

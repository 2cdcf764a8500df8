"""Chaos, the long run: `kill -9` of `intake serve` again and again under
WeChat and 12345 load with the platforms' retries (tests/chaos_load.py, the
same load as the CI test tests/chaos/test_kill_under_load.py), then the count
of acknowledged-but-lost, doubled and false receipts, all of which must be 0.

    .venv/bin/python bench/chaos.py [--database sqlite|postgresql] [--kills 10]
        [--wechat-clients 16] [--hotline-clients 4] [--batch 50] [--acked-between 300] [--timeout 5]

PostgreSQL: a fresh database is made on INTAKE_TEST_POSTGRES_URL's server
(default postgresql+asyncpg://postgres@127.0.0.1:5432/test) and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import cpu_seconds, free_port, write_result  # noqa: E402
from tests.chaos_load import ChaosLoad, verdict  # noqa: E402
from tests.intake_process import IntakeProcess  # noqa: E402
from tests.wechat_peer import WeChatPeer  # noqa: E402  (independent of the server's code)

TOKEN, AES_KEY, APP_ID = "chaosToken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx2c2769f8efd9abc2"
SECRET = "chaos-hotline-secret"
PG_ADMIN = os.environ.get("INTAKE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def pg_database(create: bool, name: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(PG_ADMIN)
    conn = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                                 password=u.password, database=u.database or "postgres")
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


async def chaos(args, tmp: Path, url: str) -> dict:
    env = {"INTAKE_DATABASE_URL": url, "INTAKE_SECRET_KEY": "chaos", "INTAKE_VAR_DIR": str(tmp / "var"),
           "INTAKE_WECHAT_TOKEN": TOKEN, "INTAKE_WECHAT_AES_KEY": AES_KEY, "INTAKE_WECHAT_APP_ID": APP_ID,
           "INTAKE_HOTLINE_SECRET": SECRET, "INTAKE_HOTLINE_SYNC_MINUTES": "0"}
    server = IntakeProcess(env, free_port(), tmp / "serve.log", cwd=tmp)
    load = ChaosLoad(server, WeChatPeer(TOKEN, AES_KEY, APP_ID), SECRET, wechat_clients=args.wechat_clients,
                     hotline_clients=args.hotline_clients, batch=args.batch, timeout=args.timeout,
                     seed=args.seed)
    await server.start()
    started = time.monotonic()
    try:
        tally = await load.run(args.kills, acked_between=args.acked_between, tail_acked=args.acked_between)
    finally:
        cpu = cpu_seconds(server.proc.pid) if server.proc else float("nan")
        status = server.stop()
    elapsed = time.monotonic() - started
    result = await verdict(url, tally)
    return {"database": args.database, "timeout_s": args.timeout, "kills": server.kills, "seconds": round(elapsed, 1),
            "graceful_stop_status": status, "last_process_cpu_s": round(cpu, 1),
            "wechat_pushes": len(tally.wechat_sent), "hotline_orders": len(tally.hotline_sent),
            "attempts": dict(tally.attempts), "retried": dict(tally.retried), "refused": tally.refused[:20],
            "in_flight_at_kill": tally.in_flight_at_kill, "downtime_s": [round(d, 1) for d in tally.downtimes],
            **result.as_dict(), "examples": (result.lost + result.doubled + result.false_receipts)[:20]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--wechat-clients", type=int, default=16)
    ap.add_argument("--hotline-clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50, help="orders per 12345 push")
    ap.add_argument("--acked-between", type=int, default=300,
                    help="acknowledgements (pushes + orders) between a restart and the next kill")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds a client waits for an answer before it sends again (WeChat: 5)")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        name = f"intake_chaos_{uuid.uuid4().hex[:10]}"
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'chaos.db'}"
        else:
            url = asyncio.run(pg_database(True, name))
        try:
            out = asyncio.run(chaos(args, tmp, url))
        finally:
            if args.database == "postgresql":
                asyncio.run(pg_database(False, name))
    print(f"{out['database']}: {out['kills']} kill -9 in {out['seconds']} s; "
          f"{out['wechat_acked']} WeChat pushes and {out['hotline_acked']} 12345 orders acknowledged "
          f"({sum(out['attempts'].values())} requests, {sum(out['retried'].values())} sent again)")
    print(f"  retried: {out['retried']}")
    print(f"  in flight at each kill: {out['in_flight_at_kill']}; down for (s): {out['downtime_s']}")
    print(f"  acknowledged but lost: {out['lost']}; doubled: {out['doubled']}; false receipts: "
          f"{out['false_receipts']}; refused: {len(out['refused'])}; graceful stop: {out['graceful_stop_status']}")
    write_result(f"chaos_{args.database}" + ("" if args.timeout == 5.0 else f"_timeout{args.timeout:g}"), out)
    if out["lost"] or out["doubled"] or out["false_receipts"] or out["refused"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

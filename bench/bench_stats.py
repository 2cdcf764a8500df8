"""How long the 通报 table takes for a year of 1,000,000 cases, on SQLite
and on PostgreSQL.

Builds a migrated database per backend (SQLite under bench/out/, a
PostgreSQL database ``intake_bench_stats_v<version>_<cases>`` on the server of
INTAKE_TEST_POSTGRES_URL; both reused on later runs unless --rebuild),
bulk-loads synthetic cases inside the database, numbered in the order they
arrive as recorded cases are (channels, kinds, topics,
ten assignees and some unassigned; answered on time / late / without an
answer time, open, overdue, waiting, returned, merged; extensions,
re-handlings) and ratings for a fifth of the answered cases (re-handled
ones rated twice), with the figures each case keeps as the application
keeps them (its answer's working days by the calendar, its ratings'
counts), then times, in the same run and on the same rows:

  baseline: a bare SELECT assignee_id, count(*) … GROUP BY assignee_id
  stats:    bot.services.stats.build, by assignee (the 通报 table: one
            grouped query over the cases, then the rows)

and, for the record, the table by kind, channel and topic, and the
dashboard's month.

    .venv/bin/python bench/bench_stats.py [--cases 1000000] [--runs 5] [--rebuild]
        [--backend sqlite|postgresql|both]

Target: the table within 3x the bare query.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.app import migrate  # noqa: E402
from bot.domain.stats import StatsQuery  # noqa: E402
from bot.domain.workdays import WorkingCalendar  # noqa: E402
from bot.services.stats import build as build_stats  # noqa: E402
from storage.database import Database  # noqa: E402

YEAR = 2024
# A fixed "now" after the year, so every run counts the same open cases as overdue.
NOW = datetime(2025, 3, 1, tzinfo=timezone.utc)
PG_URL = os.environ.get("INTAKE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
USERS = 10
DATA_VERSION = 3  # in the databases' names: a changed generator never reuses an older one's data
TARGET_FROM = 100_000  # cases: below this the run checks that the bench works, and judges nothing
CHANNELS = ["wechat"] * 50 + ["hotline"] * 25 + ["portal"] * 12 + ["platform"] * 8 + ["letter", "phone", "email", "in_person", "other"]
KINDS = ["consultation"] * 45 + ["complaint"] * 20 + ["help"] * 12 + ["suggestion"] * 8 + ["report"] * 5 + ["praise"] * 3 + ["other"] * 7
TOPICS = ["general"] * 40 + ["parking"] * 20 + ["shelter"] * 15 + ["siren"] * 10 + ["fee"] * 5 + ["permit"] * 5 + ["education", "procurement"] * 2 + ["general"]

# Status by a draw of 0–99: 3 new, 2 in progress, 1 waiting, 2 returned, 1 merged, 51 answered, 40 closed
# (the last of them imported history without an answer time).
STATUS_SQL = ("CASE WHEN a < 3 THEN 'new' WHEN a < 5 THEN 'in_progress' WHEN a < 6 THEN 'waiting'"
              " WHEN a < 8 THEN 'returned' WHEN a < 9 THEN 'merged' WHEN a < 60 THEN 'answered' ELSE 'closed' END")
ANSWERED_SQL = "a >= 9 AND a < 99"

SQLITE_LOAD = f"""
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1),
raw AS MATERIALIZED (SELECT i, datetime(:start, '+' || (abs(random()) % 31536000) || ' seconds') AS at,
        abs(random()) % 100 AS c, abs(random()) % 100 AS k, abs(random()) % 100 AS t, abs(random()) % 100 AS a,
        abs(random()) % 3 AS d, abs(random()) % 100 AS u, abs(random()) % 100 AS x FROM seq),
shaped AS MATERIALIZED (SELECT *, {STATUS_SQL} AS status,
        CASE WHEN {ANSWERED_SQL} THEN datetime(at, '+' || ((a * 7919 + x * 31) % 600) || ' hours') END AS answered_at
        FROM raw)
INSERT INTO cases (number, channel, kind, topic, confidence, matched, needs_review, classified_by, status, text,
    received_at, received_date, received_year, last_message_at, deadline_at, deadline_days, answered_at, answered_date,
    assignee_id, merged_into_id, waiting_since, extended_days, reopened, version, created_at, updated_at)
SELECT printf('B%09d', i), json_extract(:channels, '$[' || c || ']'), json_extract(:kinds, '$[' || k || ']'),
    json_extract(:topics, '$[' || t || ']'), 0.9, '[]', 0, 'rules', status, '', at, date(at, '+8 hours'), :year, at,
    datetime(at, '+' || (3 + d * 9) || ' days'), 3 + d * 6, answered_at, date(answered_at, '+8 hours'),
    CASE WHEN u < 8 THEN NULL ELSE 1 + u % {USERS} END, CASE WHEN status = 'merged' THEN 1 END,
    CASE WHEN status = 'waiting' THEN datetime(at, '+1 days') END,
    CASE WHEN x < 5 THEN 5 ELSE 0 END, CASE WHEN x >= 96 THEN 1 ELSE 0 END, 1, at, at
FROM shaped ORDER BY at
"""

PG_LOAD = f"""
WITH raw AS (SELECT i,
        timestamptz '{YEAR - 1}-12-31 16:00:00+00' + (floor(random() * 31536000)::int) * interval '1 second' AS at,
        floor(random() * 100)::int AS c, floor(random() * 100)::int AS k, floor(random() * 100)::int AS t,
        floor(random() * 100)::int AS a, floor(random() * 3)::int AS d, floor(random() * 100)::int AS u,
        floor(random() * 100)::int AS x FROM generate_series(0, :n - 1) AS i),
shaped AS (SELECT *, {STATUS_SQL} AS status,
        CASE WHEN {ANSWERED_SQL} THEN at + ((a * 7919 + x * 31) % 600) * interval '1 hour' END AS answered_at
        FROM raw)
INSERT INTO cases (number, channel, kind, topic, confidence, matched, needs_review, classified_by, status, text,
    received_at, received_date, received_year, last_message_at, deadline_at, deadline_days, answered_at, answered_date,
    assignee_id, merged_into_id, waiting_since, extended_days, reopened, version, created_at, updated_at)
SELECT 'B' || lpad(i::text, 9, '0'), (CAST(:channels AS json) ->> c), (CAST(:kinds AS json) ->> k),
    (CAST(:topics AS json) ->> t), 0.9, '[]', false, 'rules', status, '', at,
    (at AT TIME ZONE 'Asia/Shanghai')::date, :year, at, at + (3 + d * 9) * interval '1 day', 3 + d * 6, answered_at,
    (answered_at AT TIME ZONE 'Asia/Shanghai')::date,
    CASE WHEN u < 8 THEN NULL ELSE 1 + u % {USERS} END, CASE WHEN status = 'merged' THEN 1 END,
    CASE WHEN status = 'waiting' THEN at + interval '1 day' END,
    CASE WHEN x < 5 THEN 5 ELSE 0 END, CASE WHEN x >= 96 THEN 1 ELSE 0 END, 1, at, at
FROM shaped ORDER BY at
"""

# A fifth of the answered cases rated once; the re-handled among them rated a second time (a low score first).
RATINGS = """
INSERT INTO case_ratings (case_id, score, source, round, actor, at)
SELECT id, 1 + ((id / 5) * 3) % 5, 'citizen', 0, 'bench', answered_at FROM cases
WHERE status IN ('answered', 'closed') AND answered_at IS NOT NULL AND id % 5 = 0
"""
RATINGS_AGAIN = """
INSERT INTO case_ratings (case_id, score, source, round, actor, at)
SELECT id, 4, 'citizen', 1, 'bench', answered_at FROM cases
WHERE status IN ('answered', 'closed') AND answered_at IS NOT NULL AND id % 5 = 0 AND reopened > 0
"""
# What the application keeps on each case as it is answered and rated
# (bot/domain/lifecycle.py), set here in bulk: working days from a table of
# each day's position in the calendar, ratings from case_ratings.
FIGURES_SQLITE = ["""
UPDATE cases SET answer_working_days = (SELECT n FROM temp.positions WHERE day = cases.answered_date)
                                       - (SELECT n FROM temp.positions WHERE day = cases.received_date)
WHERE status IN ('answered', 'closed') AND answered_date IS NOT NULL AND answered_date >= received_date
""", """
UPDATE cases SET ratings_given = r.n, ratings_satisfied = r.s
FROM (SELECT case_id, count(*) AS n, sum(score >= 3) AS s FROM case_ratings GROUP BY case_id) AS r
WHERE r.case_id = cases.id
"""]
FIGURES_PG = ["""
UPDATE cases SET answer_working_days = a.n - r.n FROM positions a, positions r
WHERE a.day = cases.answered_date AND r.day = cases.received_date
  AND cases.status IN ('answered', 'closed') AND cases.answered_date >= cases.received_date
""", """
UPDATE cases SET ratings_given = r.n, ratings_satisfied = r.s
FROM (SELECT case_id, count(*) AS n, count(*) FILTER (WHERE score >= 3) AS s FROM case_ratings GROUP BY case_id) AS r
WHERE r.case_id = cases.id
"""]


def positions() -> list[tuple[date, int]]:
    """Each day of the years around YEAR with its working days since the start."""
    calendar, first = WorkingCalendar(), date(YEAR - 1, 1, 1)
    out, day = [], first
    while day.year <= YEAR + 1:
        out.append((day, calendar.working_days_between(first, day)))
        day = date.fromordinal(day.toordinal() + 1)
    return out


USERS_SQL = ("INSERT INTO users (id, username, display_name, password_hash, role, active, created_at)"
             " VALUES (:id, :name, :display, 'x', 'staff', :active, :at)")

BARE = text("SELECT assignee_id, count(*) FROM cases WHERE received_year IN (:year) AND received_date BETWEEN :a AND :b"
            " AND merged_into_id IS NULL AND status <> 'merged' GROUP BY assignee_id")


def _params(n: int) -> dict:
    return {"n": n, "year": YEAR, "channels": json.dumps(CHANNELS), "kinds": json.dumps(KINDS),
            "topics": json.dumps(TOPICS)}


async def _migrated(url: str) -> Database:
    db = Database(url)
    await migrate(db, "Asia/Shanghai")
    return db


async def load_sqlite(path: Path, n: int) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    await (await _migrated(url)).close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    # Indexes are rebuilt once after the load rather than maintained per row.
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases'"
                          " AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    con.executemany(USERS_SQL.replace(":id", "?").replace(":name", "?").replace(":display", "?")
                    .replace(":active", "?").replace(":at", "?"),
                    [(i, f"staff{i:02d}", f"承办人{i:02d}", 1, "2024-01-01 00:00:00") for i in range(1, USERS + 1)])
    p = _params(n)
    con.execute(SQLITE_LOAD, {**p, "start": f"{YEAR - 1}-12-31 16:00:00"})
    con.execute(RATINGS)
    con.execute(RATINGS_AGAIN)
    con.execute("CREATE TEMP TABLE positions (day TEXT PRIMARY KEY, n INTEGER)")
    con.executemany("INSERT INTO temp.positions VALUES (?, ?)", [(d.isoformat(), n) for d, n in positions()])
    for sql in FIGURES_SQLITE:
        con.execute(sql)
    for _, sql in indexes:
        con.execute(sql)
    con.commit()
    con.execute("PRAGMA analysis_limit=0")
    con.execute("ANALYZE")
    con.close()
    print(f"sqlite: loaded {n:,} cases in {time.perf_counter() - t0:.1f} s")
    return url


async def load_postgresql(url: str, n: int) -> None:
    import asyncpg

    u = make_url(url)
    admin = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                                  password=u.password, database="postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{u.database}"')
    await admin.close()
    db = await _migrated(url)
    t0 = time.perf_counter()
    try:
        async with db.engine.begin() as conn:
            indexes = (await conn.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cases'"
                " AND indexname NOT IN (SELECT conname FROM pg_constraint)"))).all()
            for name, _ in indexes:
                await conn.execute(text(f'DROP INDEX "{name}"'))
            await conn.execute(text(USERS_SQL), [
                {"id": i, "name": f"staff{i:02d}", "display": f"承办人{i:02d}", "active": True,
                 "at": datetime(2024, 1, 1, tzinfo=timezone.utc)} for i in range(1, USERS + 1)])
            await conn.execute(text(PG_LOAD), _params(n))
            await conn.execute(text(RATINGS))
            await conn.execute(text(RATINGS_AGAIN))
            await conn.execute(text("CREATE TEMP TABLE positions (day date PRIMARY KEY, n integer)"))
            await conn.execute(text("INSERT INTO positions VALUES (:d, :n)"), [{"d": d, "n": n} for d, n in positions()])
            for sql in FIGURES_PG:
                await conn.execute(text(sql))
            for _, sql in indexes:
                await conn.execute(text(sql))
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await db.close()
    print(f"postgresql: loaded {n:,} cases in {time.perf_counter() - t0:.1f} s")


async def _bare(db: Database, start: date, end: date) -> float:
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(readonly=True) if db.dialect == "sqlite" else conn
        async with conn.begin():
            t0 = time.perf_counter()
            (await conn.execute(BARE, {"year": YEAR, "a": start, "b": end})).all()
            return time.perf_counter() - t0


async def _stats(db: Database, query: StatsQuery) -> tuple[float, dict]:
    t0 = time.perf_counter()
    table = await build_stats(db, query, now=NOW)
    return time.perf_counter() - t0, table


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _runs(xs: list[float]) -> str:
    return ", ".join(f"{x:.3f}" for x in xs)


async def measure(url: str, runs: int) -> dict:
    db = Database(url)
    year = StatsQuery(date(YEAR, 1, 1), date(YEAR, 12, 31), "assignee")
    month = StatsQuery(date(YEAR, 11, 1), date(YEAR, 11, 30), "assignee")
    out: dict = {"backend": db.dialect}
    try:
        await _stats(db, year)  # warm: the page cache
        bare, table_s = [], []
        table = None
        for _ in range(runs):  # alternated, so both see the machine in the same state
            bare.append(await _bare(db, year.start, year.end))
            seconds, table = await _stats(db, year)
            table_s.append(seconds)
        out.update(bare=bare, stats=table_s, total=table["total"], rows=len(table["rows"]))
        for by in ("kind", "channel", "topic"):
            q = StatsQuery(year.start, year.end, by)
            out[f"stats_{by}"] = [(await _stats(db, q))[0] for _ in range(max(1, runs // 2))]
        out["bare_month"] = [await _bare(db, month.start, month.end) for _ in range(runs)]
        out["stats_month"] = [(await _stats(db, month))[0] for _ in range(runs)]
    finally:
        await db.close()
    return out


def report(m: dict, cases: int) -> bool:
    b, s = _median(m["bare"]), _median(m["stats"])
    t = m["total"]
    print(f"[{m['backend']}] year {YEAR}: {cases:,} cases generated, {t['received']:,} counted (merged left out), "
          f"{m['rows']} rows; answered {t['answered']:,} (on time {t['on_time']:,}, late {t['late']:,}), "
          f"open overdue {t['open_overdue']:,}, rated {t['rated']:,}, satisfaction {t['satisfaction_rate']}, "
          f"avg working days {t['avg_working_days']}")
    print(f"[{m['backend']}] baseline  bare SELECT assignee_id, count(*) GROUP BY: median {b:.3f} s"
          f"  (runs: {_runs(m['bare'])})")
    print(f"[{m['backend']}] stats     通报 table by assignee:              median {s:.3f} s  (runs: {_runs(m['stats'])})"
          f"  = {s / b:.2f}x baseline")
    print(f"[{m['backend']}] by kind / channel / topic: " + ", ".join(
        f"{_median(m[f'stats_{k}']):.3f} s" for k in ("kind", "channel", "topic")))
    mb, ms = _median(m["bare_month"]), _median(m["stats_month"])
    print(f"[{m['backend']}] one month (dashboard): stats {ms:.3f} s, bare {mb:.3f} s = {ms / mb:.2f}x")
    if cases < TARGET_FROM:  # a smoke run: fixed costs dominate, the ratio says nothing
        print(f"[{m['backend']}] target: within 3x the bare query -> n/a under {TARGET_FROM:,} cases")
        return True
    ok = s <= 3 * b
    print(f"[{m['backend']}] target: within 3x the bare query -> {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = ap.parse_args()
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results, ok = {}, True
    if args.backend in ("sqlite", "both"):
        path = out / f"stats-v{DATA_VERSION}-{args.cases}.db"
        if args.rebuild or not path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            asyncio.run(load_sqlite(path, args.cases))
        m = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", args.runs))
        ok &= report(m, args.cases)
        results["sqlite"] = m
    pg_missing = asyncio.run(_pg_missing()) if args.backend in ("postgresql", "both") else None
    if pg_missing and args.backend == "both":
        print(f"[postgresql] skipped: {pg_missing}")
    elif pg_missing:
        sys.exit(f"PostgreSQL is needed: {pg_missing}")
    if args.backend in ("postgresql", "both") and not pg_missing:
        name = f"intake_bench_stats_v{DATA_VERSION}_{args.cases}"
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        if args.rebuild or not asyncio.run(_pg_ready(url, args.cases)):
            asyncio.run(load_postgresql(url, args.cases))
        m = asyncio.run(measure(url, args.runs))
        ok &= report(m, args.cases)
        results["postgresql"] = m
    (out / "bench_stats.json").write_text(json.dumps({"cases": args.cases, **results}, indent=2, default=str,
                                                     ensure_ascii=False))
    return 0 if ok else 1


async def _pg_missing() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    import asyncpg

    u = make_url(PG_URL)
    try:
        conn = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username or "postgres",
                                     password=u.password, database="postgres", timeout=3)
    except Exception as exc:  # any failure to connect: not available here
        return f"{PG_URL} not reachable ({type(exc).__name__}: {exc})"
    await conn.close()
    return None


async def _pg_ready(url: str, n: int) -> bool:
    """The database exists and holds the generated cases (a previous run's)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM cases"))).scalar_one() == n
    except Exception:  # no such database (or no server): build it
        return False
    finally:
        await db.close()


if __name__ == "__main__":
    sys.exit(main())

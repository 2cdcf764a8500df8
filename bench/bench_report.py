"""How long the annual report takes for a year of 1,000,000 cases on SQLite.

Builds a migrated SQLite database under bench/out/ (reused on later runs
unless --rebuild), bulk-loads synthetic cases (channels, kinds, answered on
time / late / open), 5,000 disclosure requests (some carried over from the
previous year) and a few reviews, then times, in the same run:

  baseline: a bare SELECT channel, kind, COUNT(*) … GROUP BY for the year
  report:   bot.services.reports.build (interactions, table 三, table 四, checks)
  render:   each output format from the finished report

    .venv/bin/python bench/bench_report.py [--cases 1000000] [--runs 5] [--rebuild]

Target: the report under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from bot.services.reports import build as build_report  # noqa: E402
from storage.database import Database  # noqa: E402
from bot.exports.report_formats import FORMATS, render  # noqa: E402
from bot.domain.workdays import WorkingCalendar  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

YEAR = 2024
CHANNELS = ["wechat"] * 50 + ["hotline"] * 25 + ["portal"] * 12 + ["platform"] * 8 + ["letter", "phone", "email", "in_person", "other"]
KINDS = ["consultation"] * 45 + ["complaint"] * 20 + ["help"] * 12 + ["suggestion"] * 8 + ["report"] * 5 + ["praise"] * 3 + ["other"] * 7
APPLICANTS = ["natural_person"] * 80 + ["commercial"] * 10 + ["research", "public_welfare", "legal_service"] * 2 + ["other_org"] * 4
OUTCOMES = ["r1"] * 40 + ["r2"] * 10 + ["r3_4", "r3_6", "r4_1", "r4_1", "r4_2", "r5_1", "r5_2", "r6_1", "r6_3"] * 5


def load(db: Path, n_cases: int) -> None:
    url = f"sqlite+aiosqlite:///{db}"

    async def migrate():
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    rng = random.Random(2024)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    # Indexes are rebuilt once after the load rather than maintained per row.
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases'"
                          " AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    # Generated inside SQLite (a recursive CTE), not row by row from Python.
    con.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1),"
        " raw AS (SELECT i, datetime(:start, '+' || (abs(random()) % 31536000) || ' seconds') AS at,"
        "   abs(random()) % 100 AS c, abs(random()) % 100 AS k, abs(random()) % 100 AS a,"
        "   abs(random()) % 3 AS d FROM seq)"
        " INSERT INTO cases (number, channel, kind, topic, confidence, matched, needs_review, classified_by, status,"
        "  text, received_at, received_date, received_year, last_message_at, deadline_at, answered_at, version,"
        "  created_at, updated_at)"
        " SELECT printf('B%09d', i), json_extract(:channels, '$[' || c || ']'), json_extract(:kinds, '$[' || k || ']'),"
        "  'general', 0.9, '[]', 0, 'rules', CASE WHEN a < 5 THEN 'new' ELSE 'answered' END, '', at, date(at), :year,"
        "  at, datetime(at, '+' || (3 + d * 9) || ' days'),"
        "  CASE WHEN a < 5 THEN NULL ELSE datetime(at, '+' || ((a * 7919) % 600) || ' hours') END, 1, at, at FROM raw",
        {"n": n_cases, "start": f"{YEAR}-01-01 00:00:00", "year": YEAR,
         "channels": json.dumps(CHANNELS), "kinds": json.dumps(KINDS)},
    )
    for _, sql in indexes:
        con.execute(sql)
    disclosure = []
    for i in range(5000):
        case_id = rng.randrange(1, n_cases + 1)
        received = date(YEAR - (1 if i < 300 else 0), 1, 1) + timedelta(days=rng.randrange(365))
        decided = None if rng.random() < 0.08 else received + timedelta(days=rng.randrange(1, 40))
        disclosure.append((case_id, rng.choice(APPLICANTS), "", "letter", received.isoformat(), "post_signed", received.year,
                           "processing", received.isoformat(), rng.choice(OUTCOMES) if decided else None,
                           decided.isoformat() if decided else None, decided.year if decided else None))
    seen, unique = set(), []
    for row in disclosure:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    con.executemany(
        "INSERT INTO disclosure_requests (case_id, applicant_type, description, channel, receipt_date, receipt_basis,"
        " receipt_year, stage, correction_notice_due, outcome, decided_on, decided_year, extension_days, version,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,1,'2024-01-01 00:00:00','2024-01-01 00:00:00')", unique)
    con.executemany(
        "INSERT INTO disclosure_reviews (case_id, kind, filed_on, filed_year, result, concluded_on, created_at)"
        " VALUES (?,?,?,?,?,?,'2024-01-01 00:00:00')",
        [(unique[i][0], rng.choice(("reconsideration", "litigation_direct", "litigation_after")),
          f"{YEAR}-06-01", YEAR, rng.choice(("upheld", "corrected", "other")), f"{YEAR}-09-01") for i in range(40)])
    # The requests' cases are of that kind (else the report rightly flags them).
    con.execute("UPDATE cases SET kind = 'disclosure_request' WHERE id IN (SELECT case_id FROM disclosure_requests)")
    con.commit()
    con.execute("ANALYZE")
    con.close()
    print(f"loaded {n_cases:,} cases and {len(unique):,} disclosure requests in {time.perf_counter() - t0:.1f} s")


async def measure(db: Path, runs: int) -> dict:
    database = Database(f"sqlite+aiosqlite:///{db}")
    engine = database.engine
    calendar = WorkingCalendar()
    baseline, report_times = [], []
    report = None
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                conn = await conn.execution_options(readonly=True)
                async with conn.begin():
                    t0 = time.perf_counter()
                    (await conn.execute(text(
                        "SELECT channel, kind, COUNT(*) FROM cases WHERE received_year = :y GROUP BY channel, kind"),
                        {"y": YEAR})).all()
                    baseline.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = await build_report(database, YEAR, calendar=calendar)
            report_times.append(time.perf_counter() - t0)
    finally:
        await database.close()
    render_times = {}
    for fmt in FORMATS:
        t0 = time.perf_counter()
        render(report, fmt)
        render_times[fmt] = time.perf_counter() - t0
    return {"baseline": baseline, "report": report_times, "render": render_times, "report_data": report}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    db = out / f"report-{args.cases}.db"
    if args.rebuild or not db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        load(db, args.cases)
    m = measure_result = asyncio.run(measure(db, args.runs))
    r = m["report_data"]
    ok = all(c["ok"] for c in r["checks"])
    med_b, med_r = statistics.median(m["baseline"]), statistics.median(m["report"])
    print(f"year {YEAR}: {r['interactions']['total']:,} cases; table 三 new {r['table3']['rows']['new']['total']:,}, "
          f"carried in {r['table3']['rows']['carried_in']['total']:,}; checks {'all pass' if ok else 'FAIL'}")
    print(f"baseline  bare COUNT(*) GROUP BY channel, kind: median {med_b:.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in m["baseline"]) + ")")
    print(f"report    build_report (all tables + checks):   median {med_r:.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in m["report"]) + f")  = {med_r / med_b:.2f}x baseline")
    print("render    " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in measure_result["render"].items()))
    verdict = "PASS" if med_r < 2.0 else "FAIL"
    print(f"target: report under 2 s -> {verdict}")
    (out / "bench_report.json").write_text(json.dumps(
        {"cases": args.cases, "baseline_s": m["baseline"], "report_s": m["report"], "render_s": m["render"]}, indent=2))
    return 0 if verdict == "PASS" and ok else 1


if __name__ == "__main__":
    sys.exit(main())

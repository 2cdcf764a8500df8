"""``make bench``: every benchmark script, one after the other, each
measuring its bare baseline in the same run. Figures land in bench/out/;
write what they say in bench/RESULTS.md.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

``--quick`` runs each with small sizes (a check that it works, not a
measurement). The WeChat and siren benches need ``wrk`` (Debian: apt-get
install wrk).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# name → (script, arguments for a full run, arguments for a quick one)
BENCHES = {
    "classify": ("bench_classify.py", [], ["--n", "5000", "--latency-n", "500", "--repeat", "1"]),
    "wechat": ("bench_wechat.py", [], ["-n", "20000", "-d", "3"]),
    "hotline": ("bench_hotline.py", [], ["--batches", "10", "--rows", "2000", "--events", "2000", "--messages", "500"]),
    "siren": ("bench_siren.py", [], ["--n", "500", "--duration", "5"]),
    "inbox": ("bench_inbox.py", [], ["--cases", "20000", "--repeat", "3"]),
    "report": ("bench_report.py", [], ["--cases", "20000", "--runs", "1"]),
    "stats": ("bench_stats.py", [], ["--cases", "20000", "--runs", "1"]),
    "docx": ("bench_docx.py", [], ["--runs", "2"]),
    "track": ("bench_track.py", [], ["--cases", "20000", "--lookups", "2000", "--letters", "300"]),  # and letters
    "chaos": ("chaos.py", [], ["--kills", "1", "--acked-between", "50"]),  # kill -9 under load (SQLite)
}
NEEDS_WRK = {"wechat", "siren"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"which of {', '.join(BENCHES)} (default: all)")
    ap.add_argument("--quick", action="store_true", help="small sizes: check that each runs")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    failed = []
    for name in args.names or BENCHES:
        script, full, quick = BENCHES[name]
        if name in NEEDS_WRK and shutil.which("wrk") is None:
            print(f"== {name}: skipped (wrk is not installed)", flush=True)
            continue
        print(f"== {name}: {script} {' '.join(quick if args.quick else full)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(BENCH / script), *(quick if args.quick else full)])
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

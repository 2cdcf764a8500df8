"""CPU time of the DOCX files (GB/T 9704-2012 layout) per document, beside
the XLSX of the same report as the baseline, interleaved in one run:

  xlsx:   the report's workbook (表三/表四 merged, no pictures)
  docx:   the report draft (sections 一 to 六, two PNG charts, 表三/表四 merged)
  letter: one 答复书 (title, 文号, six paragraphs, 署名 and date)

    .venv/bin/python bench/bench_docx.py [--runs 8]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.domain.report import REVIEW_KINDS, REVIEW_RESULTS, table3_rows  # noqa: E402
from bot.exports.answer_letter import letter_docx  # noqa: E402
from bot.exports.report_formats import column_labels, render  # noqa: E402


def synthetic_report(template: str = "2021", seed: int = 1) -> dict:
    rng = random.Random(seed)
    t3 = {r["key"]: {c: rng.randint(0, 99) for c, _ in column_labels()} for r in table3_rows(template)}
    t4 = {k: {r: rng.randint(0, 9) for r in REVIEW_RESULTS} for k in REVIEW_KINDS}
    for k in REVIEW_KINDS:
        t4[k]["total"] = sum(t4[k][r] for r in REVIEW_RESULTS)
    channels = {"wechat": 5200, "hotline": 2600, "portal": 1200, "letter": 300}
    kinds = {"consultation": 4500, "complaint": 2000, "help": 1200, "suggestion": 800, "other": 800}
    inter = {"total": sum(channels.values()), "by_channel": channels, "by_kind": kinds,
             "by_channel_kind": {ch: {"consultation": n} for ch, n in channels.items()},
             "answered_on_time": 8000, "answered_late": 600, "answered_time_unknown": 0, "open": 700,
             "returned": 0, "cancelled": 0}
    return {"year": 2025, "template": template, "office": "某某市人民防空办公室", "interactions": inter,
            "table3": {"rows": t3}, "table4": t4, "checks": [{"rule": "勾稽关系", "ok": True}]}


LETTER = ("某某市人民防空办公室\n政府信息公开申请答复书\n〔2026〕\u3000\u3000号\n\n张三：\n\n"
          + "".join("本机关于2026年11月20日收到您提出的政府信息公开申请，现答复如下。" * 3 + "\n\n" for _ in range(6))
          + "某某市人民防空办公室\n2026年12月3日\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    args = ap.parse_args()
    report = synthetic_report()
    today = date(2026, 1, 20)
    jobs = {"xlsx": lambda: render(report, "xlsx"), "docx": lambda: render(report, "docx", today=today),
            "letter": lambda: letter_docx(LETTER)}
    for job in jobs.values():  # imports and caches (fonts) out of the way
        job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(args.runs):
        for name, job in jobs.items():
            t0 = time.process_time()
            job()
            times[name].append((time.process_time() - t0) * 1000)
    for name, ts in times.items():
        print(f"{name:7s} CPU per document: median {statistics.median(ts):7.1f} ms  (min {min(ts):.1f}, max {max(ts):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

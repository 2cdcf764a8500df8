#!/usr/bin/env python3
"""Benchmark of the classifier (a script, not a test).

    .venv/bin/python bench/bench_classify.py [--n 50000] [--data tests/data/messages_dev.csv]

Reports, each beside a bare baseline measured in the same run:
1. start-up: load_classifier() (jieba + user dictionary, rules, model);
2. single-message latency in the server path (``clf.classify(text)`` on
   distinct ~100-character messages, cache not hit), p50/p99 — baseline:
   ``segment.words(text)`` (jieba's cut, by jieba-rs when installed) alone
   on the same texts;
3. batch throughput of ``intake classify --input FILE`` (python -m nlp.cli)
   on N short messages, start-up excluded (measured separately with an
   empty file), on two files:
   a. the headline: ALL texts distinct (no cache can help). Each text is
      recombined from clauses of the short dev messages (one to three
      clauses from different messages, sometimes with a common closing
      such as 谢谢 or 急), and a text already generated is drawn again, so
      every text is a plausible message and none repeats;
   b. about one in three distinct (dev messages, a third with a number
      appended), as measured before;
   baseline: a script that reads the same CSV and json-dumps one object per
   row without classifying. Run on one core (taskset when available), each
   measurement repeated (--repeat), each run of a file paired with the run
   of the empty file just before it, medians of the pairs reported, wall
   time and CPU time (the latter is robust to other load on the machine).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE_SCRIPT = r"""
import csv, json, sys
out = sys.stdout
with open(sys.argv[1], encoding="utf-8", newline="") as f:
    r = csv.reader(f)
    next(r)
    buf = []
    for rec in r:
        buf.append(json.dumps({"text": rec[0], "kind": "other", "topic": "general"}, ensure_ascii=False))
        if len(buf) >= 512:
            out.write("\n".join(buf) + "\n"); buf.clear()
    if buf:
        out.write("\n".join(buf) + "\n")
"""

FALLBACK = ["请问人防车位能买吗", "地下室漏水没人管", "警报几点响", "申请公开易地建设费明细", "在吗",
            "建议警报试鸣前发短信", "举报物业卖人防车位", "谢谢你们帮忙", "审批太慢了", "招标公告在哪看"]


def load_texts(path: Path) -> list[str]:
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            return [r["text"] for r in csv.DictReader(f) if r.get("text")]
    return FALLBACK


_CLAUSE_END = re.compile(r"(?<=[，。！？；,.!?;])|\s+")
CLOSINGS = ["", "", "", "", "谢谢", "急", "在线等", "麻烦尽快回复", "谢谢！", "辛苦了", "急用", "盼复", "多谢",
            "?", "！", "。", "啊", "呢"]


def clauses_of(texts: list[str]) -> list[list[str]]:
    """The clauses of each text (split after punctuation and at spaces)."""
    out = []
    for t in texts:
        cs = [c.strip() for c in _CLAUSE_END.split(t) if c and c.strip()]
        if cs:
            out.append(cs)
    return out


def distinct_messages(texts: list[str], n: int, rng: random.Random, max_len: int = 40) -> list[str]:
    """n distinct short messages recombined from the clauses of ``texts``:
    a run of one to three consecutive clauses of one message, sometimes
    followed by a clause of another message, sometimes by a common closing;
    a text already drawn is drawn again (no counters, no repeats)."""
    per_text = clauses_of(texts)
    seen: set[str] = set()
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n:
            raise SystemExit(f"cannot draw {n} distinct messages from {len(texts)} texts")
        cs = rng.choice(per_text)
        i = rng.randrange(len(cs))
        parts = cs[i : i + rng.choice((1, 1, 2, 3))]
        if rng.random() < 0.6:
            parts = parts + [rng.choice(rng.choice(per_text))]
        sep = rng.choice((" ", "，", "", " "))
        t = sep.join(p.rstrip("，,；;、") for p in parts)
        close = rng.choice(CLOSINGS)
        if close and not (t[-1] in "。！？?!." and close in "?！。"):
            t += ("" if close in "?！。" or t[-1] in "。！？?!." else rng.choice((" ", "，", ""))) + close
        if len(t) > max_len or len(t) < 4 or t in seen:
            continue
        seen.add(t)
        out.append(t)
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def med(xs):
    return statistics.median(xs)


def pin(cpu: int | None) -> list[str]:
    """Pin this process to one core; return the taskset prefix for children."""
    if cpu is None:
        return []
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000, help="messages in the batch file")
    ap.add_argument("--data", default=str(ROOT / "tests" / "data" / "messages_dev.csv"))
    ap.add_argument("--latency-n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement (medians are reported)")
    ap.add_argument("--cpu", type=int, default=1, help="core to pin to (-1: do not pin)")
    args = ap.parse_args()
    pre = pin(None if args.cpu < 0 else args.cpu)
    core = f"pinned to core {args.cpu}" if pre else "not pinned"
    print(f"{core}; {args.repeat} runs of each measurement, medians (CPU = user+sys time of the process, "
          "less sensitive to other load on the machine than wall time)")
    rng = random.Random(0)
    texts = load_texts(Path(args.data))

    # 1. start-up (in this process: imports, jieba + user dictionary, rules, model)
    t0 = time.perf_counter()
    import nlp

    clf = nlp.load_classifier()
    startup = time.perf_counter() - t0
    print(f"start-up in-process (import + load_classifier: jieba + user dict, rules, model): {startup * 1000:.0f} ms")

    # 2. single-message latency, ~100 characters, distinct texts (no cache hits)
    long_texts = []
    for i in range(args.latency_n):
        t = ""
        while len(t) < 100:
            t += rng.choice(texts)
        long_texts.append(t[:96] + f"{i:04d}")
    from nlp import segment

    tk = segment.init()
    for t in long_texts[:200]:  # warm-up
        clf.classify(t + "w")
    pc = time.perf_counter
    tt = time.thread_time
    p50s, p99s, means, cpus, b50s, b99s = [], [], [], [], [], []
    for r in range(args.repeat):
        lat, base = [], []
        suffix = f"r{r}"  # distinct texts each round: the cache never answers
        c0 = tt()
        for t in long_texts:
            t = t + suffix
            a = pc()
            clf.classify(t)
            lat.append(pc() - a)
        cpus.append((tt() - c0) / len(long_texts))
        for t in long_texts:
            a = pc()
            tk.words(t)
            base.append(pc() - a)
        p50s.append(statistics.median(lat))
        p99s.append(pct(lat, 99))
        means.append(statistics.fmean(lat))
        b50s.append(statistics.median(base))
        b99s.append(pct(base, 99))
    print(f"single message, ~100 chars, server path (clf.classify, cache missed), n={len(long_texts)} x {args.repeat}:")
    print(f"  wall p50 {med(p50s) * 1e3:.3f} ms, p99 {med(p99s) * 1e3:.3f} ms (runs: "
          + ", ".join(f"{x * 1e3:.3f}" for x in p99s) + f"), mean {med(means) * 1e3:.3f} ms; CPU/msg {med(cpus) * 1e3:.3f} ms")
    print(f"  baseline segment.words ({tk.name}, HMM off) alone (not used by the classifier; a yardstick): "
          f"p50 {med(b50s) * 1e3:.3f} ms, p99 {med(b99s) * 1e3:.3f} ms")
    for t in long_texts[:1000]:
        clf.classify(t)
    a = pc()
    for t in long_texts[:1000]:
        clf.classify(t)
    cached = (pc() - a) / 1000
    print(f"  same texts again (cache hit): mean {cached * 1e6:.1f} us")

    # 3. batch throughput of the CLI
    short = [t for t in texts if len(t) <= 40] or FALLBACK
    tmp = Path(tempfile.mkdtemp(prefix="bench_classify_"))
    try:
        distinct = tmp / "distinct.csv"
        batch = tmp / "batch.csv"
        empty = tmp / "empty.csv"
        d_texts = distinct_messages(short, args.n, rng)
        assert len(set(d_texts)) == len(d_texts)
        with distinct.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            w.writerows([t] for t in d_texts)
        b_texts = []
        with batch.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            for i in range(args.n):
                # short messages, about one in three distinct (a number varies)
                t = rng.choice(short)
                if i % 3 == 0:
                    t = f"{t} {rng.randint(1, 99999)}"
                b_texts.append(t)
                w.writerow([t])
        empty.write_text("text\n", encoding="utf-8")
        script = tmp / "baseline.py"
        script.write_text(BASELINE_SCRIPT, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def run(cmd):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            a = time.perf_counter()
            subprocess.run(pre + cmd, stdout=subprocess.DEVNULL, check=True, env=env, cwd=ROOT)
            wall = time.perf_counter() - a
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

        def measure(cmd, data):
            # interleave empty and full runs so that load changes hit both alike
            se, sc, fe, fc = [], [], [], []
            for _ in range(args.repeat):
                w, c = run(cmd + [str(empty)])
                se.append(w)
                sc.append(c)
                w, c = run(cmd + [str(data)])
                fe.append(w)
                fc.append(c)
            return (med(se), med(sc), med(fe), med(fc), [args.n / max(f - s, 1e-9) for f, s in zip(fe, se)],
                    [args.n / max(f - s, 1e-9) for f, s in zip(fc, sc)])

        cli = [sys.executable, "-m", "nlp.cli", "classify", "--input"]
        base = [sys.executable, str(script)]

        def report(title, data, msgs):
            s_w, s_c, _, _, rates, crates = measure(cli, data)
            bs_w, _, _, _, brates, bcrates = measure(base, data)
            avg = statistics.fmean(len(t) for t in msgs)
            print(f"batch: intake classify --input, {args.n} short messages (avg {avg:.0f} chars, "
                  f"{len(set(msgs))} distinct texts: {title}), {core}:")
            # each run less the empty run just before it (the pairs share the machine's phase)
            print(f"  CPU {med(crates):,.0f} msg/s, median of runs "
                  f"(runs: {', '.join(f'{x:,.0f}' for x in crates)}); "
                  f"wall {med(rates):,.0f} msg/s (runs: {', '.join(f'{x:,.0f}' for x in rates)})")
            print(f"  bare baseline (read CSV + json.dumps, no classification), the same way: "
                  f"CPU {med(bcrates):,.0f} msg/s; wall {med(brates):,.0f} msg/s")
            return s_w, s_c, bs_w

        s_w, s_c, bs_w = report("ALL DISTINCT, the headline", distinct, d_texts)
        report("about 1 in 3 distinct", batch, b_texts)
        print(f"start-up of the CLI (empty file, excluded above): wall {s_w * 1000:.0f} ms, CPU {s_c * 1000:.0f} ms; "
              f"bare baseline's: wall {bs_w * 1000:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

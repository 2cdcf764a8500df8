"""Helpers shared by the benchmark scripts: start servers, run wrk, wait."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
OUT = REPO / "bench" / "out"


def run_in_cpu(cpus: str, coro_factory):
    """Run a load generator's coroutine pinned away from the server's CPU."""
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
        except OSError:
            pass
    return asyncio.run(coro_factory())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    """Pin to CPUs so the server and the load generator don't share a core."""
    if cpus and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpus, *cmd]
    return cmd


def start(cmd: list[str], env: dict[str, str], port: int, cpus: str | None = "0", timeout: float = 60) -> subprocess.Popen:
    # The server's log goes to a file: a pipe nobody reads fills up and then
    # blocks the server on its next log line, which reads as a hang.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(pinned(cmd, cpus), env={**os.environ, **env}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited early: {log.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become ready")


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGINT (a graceful stop: the writer commits what it acknowledged)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wrk(url: str, script: Path, env: dict[str, str], connections: int, threads: int = 1,
        duration: int = 300, cpus: str | None = "1") -> dict:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for this benchmark: apt-get install wrk")
    cmd = pinned(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                  "-s", str(script), url], cpus)
    out = subprocess.run(cmd, env={**os.environ, **env, "WRK_THREADS": str(threads)},
                         capture_output=True, text=True, check=True).stdout
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no summary from wrk:\n{out}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def write_result(name: str, data: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2))
    return path

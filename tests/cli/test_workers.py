"""``intake serve --workers 2`` as an operator and a service manager see it:
a worker killed with SIGKILL is replaced (and logged) while the port keeps
answering; killing the parent with SIGKILL takes the workers with it within
5 s and frees the port; SIGTERM or SIGINT stops everything with exit 0; a
worker that always dies at start makes the parent give up with a non-zero
exit (so that systemd's Restart=on-failure restarts the service)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

INTAKE = str(Path(sys.executable).with_name("intake"))


@pytest.fixture
def cli_env(db_url, tmp_path):
    return {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
            "INTAKE_SECRET_KEY": "workers-test-key", "INTAKE_WECHAT_TOKEN": "", "INTAKE_HOTLINE_SECRET": ""}


class Served:
    """``intake serve --port 0 --workers N`` with its log in a file."""

    def __init__(self, env: dict, tmp_path: Path, workers: int = 2):
        self.log_path = tmp_path / "serve.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([INTAKE, "serve", "--port", "0", "--workers", str(workers)], env=env,
                                     cwd=tmp_path, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            if self.proc.poll() is not None:
                pytest.fail(f"intake serve exited ({self.proc.returncode}) before {pattern!r}:\n{self.log()}")
            time.sleep(0.1)
        pytest.fail(f"no {pattern!r} in the log within {timeout} s:\n{self.log()}")

    @property
    def base(self) -> str:
        return self.wait_for(r"serving on (http://\S+)").group(1)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def worker_pids(self) -> dict[int, int]:
        """worker number → pid of its latest process, as the log says."""
        return {int(n): int(pid) for n, pid in re.findall(r"worker (\d+) started \(pid (\d+)\)", self.log())}

    def all_worker_pids(self) -> set[int]:
        return {int(pid) for pid in re.findall(r"worker \d+ started \(pid (\d+)\)", self.log())}

    def healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=20) as r:
                    assert json.load(r) == {"status": "ok"}
                    return
            except (urllib.error.URLError, OSError):  # refused, reset, or a worker still starting
                time.sleep(0.2)
        pytest.fail(f"/healthz did not answer:\n{self.log()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for pid in self.all_worker_pids():  # never leave a worker behind, whatever failed
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        self._log.close()


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper holds no socket and runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


def workers_ready(served: Served, n: int = 2) -> dict[int, int]:
    served.wait_for(r"serving on http://")
    for number in range(1, n + 1):
        served.wait_for(rf"worker {number} started \(pid \d+\)")
    served.healthy()
    return served.worker_pids()


def post_case(base: str, token: str, text: str) -> dict:
    received = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="seconds")
    req = urllib.request.Request(base + "/api/v1/cases", method="POST",
                                 data=json.dumps({"channel": "in_person", "received_at": received, "text": text}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        return json.load(r)


def test_a_killed_worker_is_replaced_and_logged_then_sigterm_stops_all(cli_env, tmp_path):
    def intake(*args, stdin=None):
        done = subprocess.run([INTAKE, *args], env=cli_env, cwd=tmp_path, input=stdin, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    intake("db", "upgrade")
    intake("user", "add", "wangwu", "--password-stdin", stdin="a-long-password\n")
    token = intake("token", "create", "wangwu")
    served = Served(cli_env, tmp_path)
    try:
        pids = workers_ready(served)
        assert len(set(pids.values())) == 2
        os.kill(pids[1], signal.SIGKILL)
        served.wait_for(rf"worker 1 \(pid {pids[1]}\) was killed by SIGKILL after [\d.]+ s; "
                        rf"starting a new one in [\d.]+ s")
        replacement = int(served.wait_for(rf"worker 1 started \(pid (?!{pids[1]}\))(\d+)\)").group(1))
        new_pids = served.worker_pids()
        assert new_pids[1] == replacement != pids[1] and new_pids[2] == pids[2]
        assert gone(pids[1]) and not gone(replacement) and not gone(pids[2])
        # Still serving, writes included, on the same port.
        served.healthy()
        numbers = {post_case(served.base, token, f"第{i}次来访咨询人防工程的维护要求")["number"] for i in range(6)}
        assert len(numbers) == 6
        # Kill the other one too: the port keeps answering meanwhile.
        os.kill(pids[2], signal.SIGKILL)
        for _ in range(10):
            served.healthy(timeout=30)
        served.wait_for(rf"worker 2 started \(pid (?!{pids[2]}\))\d+\)")

        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(40) == 0
        log = served.log()
        assert "stopping 2 worker(s) (SIGTERM)" in log and "all workers stopped" in log
        assert all(gone(pid) for pid in served.worker_pids().values())
        assert port_free(served.port)
        assert "Traceback" not in log
    finally:
        served.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_killing_the_parent_takes_the_workers_with_it_within_5_seconds(cli_env, tmp_path):
    served = Served(cli_env, tmp_path)
    try:
        pids = workers_ready(served)
        port = served.port
        served.proc.kill()
        served.proc.wait(10)
        killed = time.monotonic()
        while not all(gone(pid) for pid in pids.values()) and time.monotonic() - killed < 10:
            time.sleep(0.05)
        took = time.monotonic() - killed
        assert all(gone(pid) for pid in pids.values()), f"workers still running 10 s later:\n{served.log()}"
        assert took < 5, f"the workers took {took:.1f} s to leave"
        assert port_free(port)
        assert served.log().count("the supervising process") == 2
    finally:
        served.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigint_stops_every_worker_and_exits_0(cli_env, tmp_path):
    served = Served(cli_env, tmp_path)
    try:
        pids = workers_ready(served)
        served.proc.send_signal(signal.SIGINT)
        assert served.proc.wait(40) == 0
        assert all(gone(pid) for pid in pids.values())
        assert "stopping 2 worker(s) (SIGINT)" in served.log()
        assert port_free(served.port)
    finally:
        served.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_workers_that_always_die_at_start_make_the_parent_exit_non_zero(cli_env, tmp_path):
    # Every worker process dies as it starts (exit code 3), before serving.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\nif '--multiprocessing-fork' in sys.argv:\n    os._exit(3)\n", encoding="utf-8")
    served = Served({**cli_env, "PYTHONPATH": str(hook)}, tmp_path)
    try:
        code = served.proc.wait(120)
        log = served.log()
        assert code != 0, log
        assert log.count("exited with code 3") >= 5 and "workers keep dying" in log
        assert "starting a new one in 0.5 s" in log and "starting a new one in 1.0 s" in log  # backing off
        assert all(gone(pid) for pid in served.all_worker_pids())
        assert port_free(served.port)
    finally:
        served.close()

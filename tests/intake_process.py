"""`intake serve` as a real process, as systemd runs it on a host: started
from the installed command with its own environment and working directory,
waited for on /healthz, stopped gracefully or killed with SIGKILL. Used by
the tests that run several hosts (tests/deploy) and kill servers under load
(tests/chaos), and by bench/chaos.py."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

INTAKE = str(Path(sys.executable).with_name("intake"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    """An ``intake`` command with the host's settings; its output, or an
    assertion error that shows it."""
    done = subprocess.run([INTAKE, *args], env=env, input=stdin, text=True, capture_output=True, cwd=cwd,
                          timeout=180)
    assert done.returncode == 0, f"intake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class IntakeProcess:
    """One host's `intake serve`. ``env`` holds its INTAKE_* settings (added
    to the test's own environment); its log goes to ``log``."""

    env: dict[str, str]
    port: int
    log: Path
    cwd: Path | None = None
    args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def spawn(self) -> None:
        """Start without waiting (several hosts start at once)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([INTAKE, "serve", "--port", str(self.port), *self.args],
                                         env=self.environ(), cwd=self.cwd, stdout=out, stderr=out)
        self.starts += 1

    async def ready(self, timeout: float = 120) -> None:
        """Wait until /healthz answers 200; fail with the log's tail if the
        process exits or does not get there in time."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"intake serve exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"intake serve not ready after {timeout:.0f} s:\n{self.tail()}")

    async def start(self, timeout: float = 120) -> None:
        self.spawn()
        await self.ready(timeout)

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self, timeout: float = 30) -> int | None:
        """A graceful stop (SIGINT, as deploy/intake.service's KillSignal); a
        SIGKILL after ``timeout``. The exit status, None if it was killed."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

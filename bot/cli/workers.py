"""Worker processes for ``intake serve --workers N``.

The parent binds the port first with a plain socket, so a port in use (by
anything, another ``intake serve`` included) is one clear error before
anything starts; then each worker gets a socket of its own on that port,
bound by the parent with SO_REUSEPORT: the kernel spreads connections evenly
over the workers (one shared socket let a single worker take a burst of
keep-alive connections), and when a worker dies the parent closes its
socket, so new connections go to the others until its replacement listens.
A socket listens once its worker's application is ready (aiohttp calls
``listen``): until then a connection is refused, not kept waiting. The parent
only supervises:

- a worker that dies is started again, with a log line and a back-off (0.5 s,
  doubling to 30 s; a worker that ran 30 s starts the count afresh);
- when a worker died five times in a row, each within 30 s of starting, the
  workers keep dying (a crash loop): the parent stops the others and exits 1,
  so that a service manager's Restart=on-failure takes over;
- SIGTERM or SIGINT stops every worker (SIGTERM, then SIGKILL after 15 s) and
  the parent exits 0.

A worker leaves by itself when the parent is gone (killed with SIGKILL, so it
could not stop them): on Linux the kernel sends it SIGTERM (PR_SET_PDEATHSIG),
and a thread watching the pipe to the parent does the same anywhere; a worker
still running 3 s later exits at once. Nothing acknowledged is lost that way:
replies leave after their commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait

from bot.config import Settings

log = logging.getLogger("intake.workers")

RESTART_DELAY_FIRST = 0.5  # seconds before a dead worker's replacement starts, doubling
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 30.0  # a worker that ran this long was not crash-looping
GIVE_UP_AFTER = 5  # deaths in a row, each within STABLE_AFTER of starting
STOP_TIMEOUT = 15.0  # after SIGTERM, before SIGKILL
SHUTDOWN_TIMEOUT = 10.0  # a stopping worker's wait for requests in flight
ORPHAN_GRACE = 3.0  # a worker without its parent: from SIGTERM to exiting at once
BACKLOG = 1024  # connections waiting for a worker's accept
PR_SET_PDEATHSIG = 1


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), not yet
    listening: the one ``intake serve`` serves on alone, or the check that
    nothing else holds the port before the workers' sockets take it. Raises
    ``OSError`` (address in use, no such host)."""
    family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    return _bound(family, address, reuse_port=False)


def _bound(family: int, address: tuple, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(settings: Settings, sock: socket.socket) -> None:
    """Serve the application on ``sock`` in this process until SIGTERM or
    SIGINT. The first signal starts a graceful stop; later ones (a service
    manager signals every process, then the supervisor signals its workers)
    do not interrupt it."""
    from aiohttp import web

    from bot.app import create_app

    loop = asyncio.new_event_loop()
    stopping: list[int] = []

    def stop(signum: int) -> None:
        if not stopping:
            stopping.append(signum)
            raise web.GracefulExit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    web.run_app(create_app(settings), sock=sock, access_log=None, print=None, handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT, backlog=BACKLOG, loop=loop)


# ---- the parent ---------------------------------------------------------------------


@dataclass
class _Slot:
    number: int
    proc: multiprocessing.process.BaseProcess | None = None
    sock: socket.socket | None = None  # this worker's own socket on the port
    started: float = 0.0
    failures: int = 0  # deaths in a row, each soon after starting
    restart_at: float = 0.0


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
        return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def supervise(settings: Settings, probe: socket.socket, workers: int) -> int:
    """Run ``workers`` worker processes on the address ``probe`` is bound to
    (closed here: each worker gets a socket of its own) until SIGTERM/SIGINT
    (0) or until they keep dying (1)."""
    family, address = probe.family, probe.getsockname()
    probe.close()
    ctx = multiprocessing.get_context("spawn")
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    slots = [_Slot(n + 1) for n in range(workers)]

    def start(slot: _Slot) -> None:
        slot.sock = _bound(family, address, reuse_port=True)
        slot.proc = ctx.Process(target=_worker, args=(settings, slot.sock, os.getpid(), slot.number),
                                name=f"intake-worker-{slot.number}")
        slot.proc.start()
        slot.started = time.monotonic()
        log.info("worker %d started (pid %d)", slot.number, slot.proc.pid)

    gave_up = False
    try:
        for slot in slots:
            start(slot)
        while not received and not gave_up:
            now = time.monotonic()
            for slot in slots:
                if slot.proc is not None and slot.proc.exitcode is not None:
                    slot.sock.close()  # its queue goes with it; new connections go to the others
                    lived = now - slot.started
                    slot.failures = slot.failures + 1 if lived < STABLE_AFTER else 1
                    how = _how_it_ended(slot.proc.exitcode)
                    if slot.failures >= GIVE_UP_AFTER:
                        log.error("workers keep dying: worker %d (pid %d) %s after %.1f s, %d times in a row "
                                  "within %.0f s of starting; stopping", slot.number, slot.proc.pid, how, lived,
                                  slot.failures, STABLE_AFTER)
                        slot.proc = None
                        gave_up = True
                        break
                    delay = min(RESTART_DELAY_FIRST * 2 ** (slot.failures - 1), RESTART_DELAY_MAX)
                    log.warning("worker %d (pid %d) %s after %.1f s; starting a new one in %.1f s",
                                slot.number, slot.proc.pid, how, lived, delay)
                    slot.proc, slot.restart_at = None, now + delay
                elif slot.proc is None and now >= slot.restart_at:
                    start(slot)
            sentinels = [slot.proc.sentinel for slot in slots if slot.proc is not None]
            if sentinels:
                wait(sentinels, timeout=0.2)
            else:
                time.sleep(0.2)
    finally:
        _stop(slots, signal.Signals(received[0]).name if received else "they keep dying")
        for slot in slots:
            if slot.sock is not None:
                slot.sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 1 if gave_up else 0


def _stop(slots: list[_Slot], why: str) -> None:
    running = [slot.proc for slot in slots if slot.proc is not None and slot.proc.is_alive()]
    if running:
        log.info("stopping %d worker(s) (%s)", len(running), why)
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in running:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in running:
        if proc.is_alive():
            log.warning("worker pid %d did not stop within %.0f s: killing it", proc.pid, STOP_TIMEOUT)
            proc.kill()
            proc.join()
    if running:
        log.info("all workers stopped")


# ---- a worker -----------------------------------------------------------------------


def _worker(settings: Settings, sock: socket.socket, parent_pid: int, number: int) -> None:
    from .common import configure_logging

    configure_logging()
    _leave_with_parent(parent_pid)
    run(settings, sock)


def _leave_with_parent(parent_pid: int) -> None:
    with contextlib.suppress(Exception):  # Linux only; the watching thread covers the rest
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # gone before we were watching
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    parent = multiprocessing.parent_process()  # its sentinel: our end of a pipe the parent holds open
    while os.getppid() == parent_pid and (parent is None or parent.is_alive()):
        if parent is not None:
            parent.join(1.0)
        else:
            time.sleep(1.0)
    log.warning("the supervising process (pid %d) is gone: worker pid %d stops", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE)
    log.warning("worker pid %d still running %.0f s after its supervisor left: exiting now", os.getpid(),
                ORPHAN_GRACE)
    os._exit(1)

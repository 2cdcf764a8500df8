"""The command line as an operator meets it: every command reads the
settings ``intake serve`` reads and never creates a database (it names the
URL it looked for and exits 2); mistakes are one line, no traceback; the
database, its -wal/-shm and the secret key are the owner's alone; on
PostgreSQL the key must be set; ``intake backup`` copies a live SQLite
database and the copy serves as the database again."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _pg_admin, empty_pg_database

INTAKE = str(Path(sys.executable).with_name("intake"))
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) ")


def clean_env(**values: str) -> dict:
    """The environment without any INTAKE_* setting of the machine's, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return {**env, **values}


def run(args, cwd: Path, env: dict, stdin: str | None = None, umask: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([INTAKE, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=180, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single line an operator reads (log lines aside), with no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- no database is ever created by accident ------------------------------------------

COMMANDS = [
    ["user", "list"],
    ["user", "add", "zhangsan", "--password-stdin"],
    ["user", "disable", "zhangsan"],
    ["token", "list"],
    ["token", "create", "zhangsan"],
    ["token", "revoke", "1"],
    ["report", "--year", "2025", "--format", "json"],
    ["stats", "--from", "2025-01-01", "--to", "2025-12-31"],
    ["kb", "export"],
    ["backup", "-o", "copy.db"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_command_run_elsewhere_creates_nothing_and_names_the_url(tmp_path, command):
    result = run(command, tmp_path, clean_env(), stdin="a-long-password\n")
    assert result.returncode == 2, result.stderr
    line = one_line_error(result)
    assert "sqlite+aiosqlite:///var/intake.db" in line and str(tmp_path / "var" / "intake.db") in line
    assert list(tmp_path.iterdir()) == []  # no var/, no database, no key


def test_a_missing_database_named_by_the_url_is_not_created(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere' / 'intake.db'}"
    result = run(["user", "list"], tmp_path, clean_env(INTAKE_DATABASE_URL=url))
    assert result.returncode == 2 and url in one_line_error(result)
    assert not (tmp_path / "elsewhere").exists()
    (tmp_path / "empty.db").touch()  # a file, but not one of ours
    result = run(["token", "list"], tmp_path, clean_env(INTAKE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"))
    assert result.returncode == 2 and "no tables of ours" in one_line_error(result)
    assert (tmp_path / "empty.db").stat().st_size == 0


@pytest.fixture
async def pg_without_tables():
    """A PostgreSQL database without our tables (and the URL of one that does not exist)."""
    async with empty_pg_database() as url:
        yield url


async def test_postgresql_without_our_tables_or_without_the_database(pg_without_tables, tmp_path):
    env = clean_env(INTAKE_DATABASE_URL=pg_without_tables, INTAKE_SECRET_KEY="k" * 32)
    result = run(["user", "list"], tmp_path, env)
    assert result.returncode == 2 and pg_without_tables in one_line_error(result)
    admin = await _pg_admin(pg_without_tables)
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await admin.close()
    missing = make_url(pg_without_tables).set(database=f"{make_url(pg_without_tables).database}_none")
    result = run(["token", "list"], tmp_path, {**env, "INTAKE_DATABASE_URL": missing.render_as_string(False)})
    assert result.returncode == 2 and "does not exist" in one_line_error(result)


# ---- the same settings as serve ------------------------------------------------------------

def test_every_command_reads_the_toml_file_serve_reads(tmp_path):
    home = tmp_path / "srv"
    home.mkdir()
    data = tmp_path / "data"
    (home / "intake.toml").write_text(f'database_url = "sqlite+aiosqlite:///{data / "intake.db"}"\n'
                                      f'var_dir = "{data / "var"}"\n', encoding="utf-8")
    assert run(["db", "upgrade"], home, clean_env()).returncode == 0
    added = run(["user", "add", "zhaoliu", "--password-stdin"], home, clean_env(), stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    # From another directory, with INTAKE_CONFIG naming the same file: the same database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = run(["user", "list"], elsewhere, clean_env(INTAKE_CONFIG=str(home / "intake.toml")))
    assert listed.returncode == 0 and "zhaoliu" in listed.stdout, listed.stderr
    assert list(elsewhere.iterdir()) == [] and not (home / "var").exists()
    assert (data / "var" / "secret_key").exists()


# ---- one-line errors -----------------------------------------------------------------------

def test_mistakes_are_one_line_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("database_url = \n", encoding="utf-8")
    result = run(["user", "list"], tmp_path, clean_env(INTAKE_CONFIG=str(bad)))
    assert result.returncode == 2 and "not valid TOML" in one_line_error(result)
    result = run(["serve"], tmp_path, clean_env(INTAKE_CONFIG=str(tmp_path / "missing.toml")))
    assert result.returncode == 2 and "missing.toml" in one_line_error(result)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[deadlines]\ncomplaint = \"fifteen\"\n", encoding="utf-8")
    result = run(["db", "upgrade"], tmp_path, clean_env(INTAKE_CONFIG=str(wrong)))
    assert result.returncode == 2 and "[deadlines]" in one_line_error(result)

    env = clean_env(INTAKE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
                    INTAKE_VAR_DIR=str(tmp_path / "var"))
    assert run(["db", "upgrade"], tmp_path, env).returncode == 0
    for args in (["report", "--year", "2025", "--format", "xlsx", "-o", str(tmp_path / "no" / "r.xlsx")],
                 ["stats", "--from", "2025-01-01", "--to", "2025-01-31", "--format", "xlsx", "-o",
                  str(tmp_path / "no" / "s.xlsx")],
                 ["backup", "-o", str(tmp_path / "no" / "copy.db")]):
        result = run(args, tmp_path, env)
        assert result.returncode in (1, 2) and str(tmp_path / "no") in one_line_error(result), args
    assert not (tmp_path / "no").exists()

    # The port is taken: one line naming the address, nothing served; also when the holder is
    # another server's SO_REUSEPORT socket (workers of a second `intake serve` must not join it).
    for reuse_port in (False, True):
        with socket.socket() as taken:
            if reuse_port:
                taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            for workers in ("1", "2"):
                result = run(["serve", "--port", str(port), "--workers", workers], tmp_path, env)
                assert result.returncode == 1 and f"127.0.0.1:{port}" in one_line_error(result)

    # The database does not answer.
    down = clean_env(INTAKE_DATABASE_URL=f"postgresql+asyncpg://intake:pw@127.0.0.1:{free_port()}/intake",
                     INTAKE_SECRET_KEY="k" * 32)
    for args in (["user", "list"], ["serve", "--port", "0"], ["db", "upgrade"]):
        result = run(args, tmp_path, down)
        line = one_line_error(result)
        assert result.returncode == 1 and "无法连接数据库" in line and ":***@" in line and "pw" not in line, args


# ---- private files ---------------------------------------------------------------------------

def test_the_database_and_the_key_are_the_owners_alone(tmp_path):
    env = clean_env()
    assert run(["db", "upgrade"], tmp_path, env, umask=0o022).returncode == 0
    var = tmp_path / "var"
    assert mode(var) == 0o700 and mode(var / "intake.db") == 0o600 and mode(var / "secret_key") == 0o600
    port = free_port()
    server = subprocess.Popen([INTAKE, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: os.umask(0o022))
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        for name in ("intake.db-wal", "intake.db-shm"):
            assert mode(var / name) == 0o600, name
    finally:
        server.terminate()
        server.wait(60)
    # A database file named elsewhere is made 0600 too (in a directory made 0700).
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'intake.db'}"
    assert run(["db", "upgrade"], tmp_path, clean_env(INTAKE_DATABASE_URL=url), umask=0o022).returncode == 0
    assert mode(tmp_path / "data") == 0o700 and mode(tmp_path / "data" / "intake.db") == 0o600


def wait_healthy(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=20) as r:
                if json.load(r) == {"status": "ok"}:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    pytest.fail("intake serve did not answer /healthz")


# ---- the key on PostgreSQL -----------------------------------------------------------------

@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_on_postgresql_serve_refuses_to_start_without_the_key(db_url, tmp_path):
    env = clean_env(INTAKE_DATABASE_URL=db_url)
    for args in (["serve", "--port", "0"], ["user", "list"]):
        result = run(args, tmp_path, env)
        assert result.returncode == 2 and "INTAKE_SECRET_KEY" in one_line_error(result), args
    assert list(tmp_path.iterdir()) == []  # no key generated into var/
    listed = run(["user", "list"], tmp_path, {**env, "INTAKE_SECRET_KEY": "k" * 32})
    assert listed.returncode == 0, listed.stderr


# ---- backups -----------------------------------------------------------------------------------

def test_backup_of_a_live_sqlite_database_is_consistent_and_restores(tmp_path):
    db = tmp_path / "var" / "intake.db"
    env = clean_env(INTAKE_DATABASE_URL=f"sqlite+aiosqlite:///{db}", INTAKE_VAR_DIR=str(tmp_path / "var"))
    assert run(["db", "upgrade"], tmp_path, env).returncode == 0
    assert run(["user", "add", "qianqi", "--password-stdin"], tmp_path, env, stdin="a-long-password\n").returncode == 0
    token = run(["token", "create", "qianqi"], tmp_path, env).stdout.strip()
    port = free_port()
    server = subprocess.Popen([INTAKE, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:  # a steady stream of acknowledged writes while the backups run
        received = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="seconds")
        while not stop.is_set():
            body = json.dumps({"channel": "in_person", "received_at": received,
                               "text": f"来访咨询人防工程第{len(acknowledged)}号的维护"}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cases", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                acknowledged.append(json.load(r)["number"])

    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        while len(acknowledged) < 20:
            time.sleep(0.05)
        copies = []
        for n in range(2):
            before = len(acknowledged)
            copy = tmp_path / "backups" / f"copy{n}.db"
            copy.parent.mkdir(exist_ok=True)
            result = run(["backup", "-o", str(copy)], tmp_path, env)
            after = len(acknowledged)
            assert result.returncode == 0 and "已备份" in result.stdout, result.stderr
            copies.append((copy, before, after))
        stop.set()
        thread.join(60)
    finally:
        stop.set()
        server.terminate()
        server.wait(60)
    assert len(acknowledged) > copies[-1][2]  # writes went on during and after the backups
    for copy, before, after in copies:
        assert mode(copy) == 0o600
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            numbers = {row[0] for row in conn.execute("SELECT number FROM cases")}
        # Every case acknowledged before the backup began is in it; none that was not yet written.
        assert set(acknowledged[:before]) <= numbers <= set(acknowledged[:after + 1])
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == ["copy0.db", "copy1.db"]  # no parts left

    # Restoring is pointing the settings at the copy: the commands read it, and it serves.
    copy, before, _ = copies[-1]
    restored = {**env, "INTAKE_DATABASE_URL": f"sqlite+aiosqlite:///{copy}"}
    listed = run(["token", "list"], tmp_path, restored)
    assert listed.returncode == 0 and "qianqi" in listed.stdout, listed.stderr
    year = datetime.now(timezone(timedelta(hours=8))).year
    report = run(["report", "--year", str(year), "--format", "json"], tmp_path, restored)
    assert report.returncode == 0, report.stderr
    with sqlite3.connect(copy) as conn:
        in_copy = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    assert in_copy >= before and json.loads(report.stdout)["interactions"]["by_channel"]["in_person"] == in_copy


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_backup_on_postgresql_prints_a_pg_dump_command_that_works(db_url, tmp_path):
    u = make_url(db_url)
    with_password = u.set(password="s3cret-pw").render_as_string(hide_password=False)
    result = run(["backup", "-o", str(tmp_path / "intake.dump")], tmp_path,
                 clean_env(INTAKE_DATABASE_URL=with_password))
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip()
    assert command.startswith("pg_dump ") and "s3cret-pw" not in command + result.stderr
    assert f"--dbname={u.database}" in command and f"--username={u.username}" in command
    assert f"--host={u.host}" in command and "--format=custom" in command
    if u.password:
        pytest.skip("the test server needs a password: the command is checked, not run")
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(["pg_restore", "--list", str(tmp_path / "intake.dump")], capture_output=True, text=True)
    assert "TABLE public cases" in listing.stdout and "alembic_version" in listing.stdout

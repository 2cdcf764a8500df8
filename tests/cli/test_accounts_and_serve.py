"""The command line as an operator uses it: migrate, create an account and a
token, serve, and use the token against the running server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

INTAKE = str(Path(sys.executable).with_name("intake"))


def run(args, env, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([INTAKE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli_env(db_url, tmp_path):
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_WECHAT_TOKEN": "", "INTAKE_HOTLINE_SECRET": ""}
    if db_url.startswith("postgresql"):  # several hosts: the key is set, the same on each (SQLite generates one)
        env["INTAKE_SECRET_KEY"] = "operator-flow-key"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_operator_flow(cli_env, tmp_path):
    assert run(["db", "upgrade"], cli_env).returncode == 0
    assert run(["db", "upgrade"], cli_env).returncode == 0  # idempotent
    added = run(["user", "add", "wangwu", "--role", "admin", "--password-stdin"], cli_env, "s3cret-passw0rd\n")
    assert added.returncode == 0, added.stderr
    again = run(["user", "add", "wangwu", "--password-stdin"], cli_env, "s3cret-passw0rd\n")
    assert again.returncode != 0 and "已存在" in again.stderr
    short = run(["user", "add", "zhao", "--password-stdin"], cli_env, "short\n")
    assert short.returncode != 0
    assert run(["token", "create", "nobody"], cli_env).returncode != 0
    created = run(["token", "create", "wangwu"], cli_env)
    token = created.stdout.strip()
    assert created.returncode == 0 and token.startswith("gi_")

    port = _free_port()
    server = subprocess.Popen([INTAKE, "serve", "--port", str(port)], env=cli_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    assert json.load(r) == {"status": "ok"}
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        else:
            pytest.fail("intake serve did not answer /healthz")
        req = urllib.request.Request(
            base + "/api/v1/cases", method="POST",
            data=json.dumps({"channel": "in_person", "received_at": "2026-11-20T10:00:00+08:00",
                             "text": "来访咨询人防工程平战转换的要求"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            case = json.load(r)
        assert r.status == 201 and case["number"].startswith("LF20261120-")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    # The token and the password never reach the log.
    assert token not in output and "s3cret-passw0rd" not in output


def test_bad_configuration_is_a_clear_error(cli_env):
    result = run(["db", "upgrade"], {**cli_env, "INTAKE_TIMEZONE": "Mars/Olympus"})
    assert result.returncode == 2 and "INTAKE_TIMEZONE" in result.stderr


def test_settings_shown_in_the_log_hide_passwords():
    from bot.config import Settings

    shown = Settings(database_url="postgresql+asyncpg://intake:s3cr%40t@db:5432/intake", secret_key="k",
                     hotline_callback_url="https://u:pw@12345.example/cb", wechat_aes_key="a" * 43).describe()
    assert shown["database_url"] == "postgresql+asyncpg://intake:***@db:5432/intake"
    assert shown["hotline_callback_url"] == "https://u:***@12345.example/cb"
    assert shown["secret_key"] == shown["wechat_aes_key"] == "(set)" and "s3cr" not in str(shown)

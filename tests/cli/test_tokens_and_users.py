"""``intake token list|revoke`` and ``intake user list|disable|enable``,
run as an operator runs them against the database a running server uses,
checked over that server's HTTP: a revoked token is refused at once, a
disabled account cannot sign in, and its session and tokens stop working."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.inbox_staff import PASSWORD, login

REPO = Path(__file__).resolve().parents[2]
INTAKE = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


async def intake(server, tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    settings = server.runtime.settings
    env = {**os.environ, "INTAKE_DATABASE_URL": settings.database_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
           "INTAKE_SECRET_KEY": settings.secret_key, "PYTHONPATH": str(REPO)}
    env.pop("INTAKE_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(*INTAKE, *args, cwd=tmp_path, env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 120)
    return proc.returncode, out.decode(), err.decode()


def rows(listing: str) -> list[list[str]]:
    lines = listing.strip().splitlines()
    return [line.split("\t") for line in lines[1:]]


async def api_status(server, token: str) -> int:
    resp = await server.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    return resp.status


async def test_tokens_are_listed_and_revoked_by_id_or_name(server, tmp_path):
    code, _, err = await intake(server, tmp_path, "user", "add", "zhangsan", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    first = (await intake(server, tmp_path, "token", "create", "zhangsan"))[1].strip()
    ci = (await intake(server, tmp_path, "token", "create", "zhangsan", "--label", "ci"))[1].strip()
    assert await api_status(server, first) == 200 and await api_status(server, ci) == 200

    code, listing, err = await intake(server, tmp_path, "token", "list")
    assert code == 0, err
    assert listing.splitlines()[0].split("\t") == ["编号", "名称", "用户", "创建时间", "最近使用", "状态"]
    listed = rows(listing)
    assert [(r[1], r[2], r[5]) for r in listed] == [("zhangsan", "zhangsan", "有效"), ("ci", "zhangsan", "有效")]
    assert listed[0][4] != "-"  # used a moment ago
    assert first not in listing and ci not in listing  # never the tokens themselves
    first_id, ci_id = listed[0][0], listed[1][0]

    code, out, err = await intake(server, tmp_path, "token", "revoke", "ci")
    assert code == 0 and f"已撤销令牌 {ci_id}" in out, err
    assert await api_status(server, ci) == 401
    assert await api_status(server, first) == 200
    code, out, _ = await intake(server, tmp_path, "token", "revoke", first_id)
    assert code == 0 and f"已撤销令牌 {first_id}" in out
    assert await api_status(server, first) == 401
    code, out, _ = await intake(server, tmp_path, "token", "revoke", first_id)  # again: says so, changes nothing
    assert code == 0 and "已于" in out
    statuses = {r[0]: r[5] for r in rows((await intake(server, tmp_path, "token", "list"))[1])}
    assert statuses[first_id].startswith("已撤销") and statuses[ci_id].startswith("已撤销")

    # Two live tokens with one name: refused, their ids named, nothing revoked.
    a = (await intake(server, tmp_path, "token", "create", "zhangsan"))[1].strip()
    b = (await intake(server, tmp_path, "token", "create", "zhangsan"))[1].strip()
    code, _, err = await intake(server, tmp_path, "token", "revoke", "zhangsan")
    assert code == 1 and "请用编号撤销" in err and "Traceback" not in err
    assert await api_status(server, a) == 200 and await api_status(server, b) == 200
    code, _, err = await intake(server, tmp_path, "token", "revoke", "no-such-token")
    assert code == 1 and "没有令牌 no-such-token" in err


async def test_a_disabled_user_cannot_sign_in_and_their_session_and_tokens_stop(server, tmp_path):
    assert (await intake(server, tmp_path, "user", "add", "lisi", "--password-stdin", stdin=PASSWORD + "\n"))[0] == 0
    assert (await intake(server, tmp_path, "user", "add", "wangwu", "--role", "admin", "--password-stdin",
                         stdin=PASSWORD + "\n"))[0] == 0
    token = (await intake(server, tmp_path, "token", "create", "lisi"))[1].strip()
    signed_in = await login(server, "lisi")
    assert signed_in.status == 303
    assert (await server.get("/inbox", allow_redirects=False)).status == 200

    code, out, err = await intake(server, tmp_path, "user", "disable", "lisi")
    assert code == 0 and "已停用用户 lisi" in out, err
    assert (await server.get("/inbox", allow_redirects=False)).status in (302, 303)  # the session ended
    assert await api_status(server, token) == 401
    again = await login(server, "lisi")
    assert again.status == 401 and "用户名或密码错误" in await again.text()

    listing = rows((await intake(server, tmp_path, "user", "list"))[1])
    assert ["lisi", "-", "工作人员", "停用"] in listing and ["wangwu", "-", "管理员", "启用"] in listing
    code, _, err = await intake(server, tmp_path, "user", "disable", "nobody")
    assert code == 1 and "没有用户 nobody" in err and "Traceback" not in err

    # Enabled again: the account signs in, its (unrevoked) token works again.
    code, out, _ = await intake(server, tmp_path, "user", "enable", "lisi")
    assert code == 0 and "已启用用户 lisi" in out
    assert (await login(server, "lisi")).status == 303
    assert await api_status(server, token) == 200

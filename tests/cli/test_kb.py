"""``intake kb import|export`` and ``intake wechat menu push`` as the office
runs them (a real subprocess), against SQLite/PostgreSQL and a local fake
WeChat API server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from storage.db import create_engine
from storage.models import KbEntry, KbRule, KeyValue
from tests.conftest import WECHAT
from tests.fake_wechat_api import APP_SECRET, FakeWeChatApi

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "deploy/knowledge_base.yaml"
MENU = REPO / "deploy/wechat_menu.yaml"
INTAKE = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


async def intake(db_url: str, tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    full_env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_VAR_DIR": str(tmp_path / "var"),
                "INTAKE_SECRET_KEY": "test-secret", "PYTHONPATH": str(REPO), **env}
    full_env.pop("INTAKE_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(*INTAKE, *args, cwd=tmp_path, env=full_env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            entries = (await conn.execute(select(func.count()).select_from(KbEntry))).scalar_one()
            rules = (await conn.execute(select(func.count()).select_from(KbRule))).scalar_one()
        return entries, rules
    finally:
        await engine.dispose()


async def test_import_export_round_trip(db_url, tmp_path):
    code, out, err = await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    assert code == 0, err
    starter = yaml.safe_load(STARTER.read_text(encoding="utf-8"))
    assert f"新增 {len(starter['entries'])} 条" in out and "关键词规则 2 条" in out
    assert await counts(db_url) == (len(starter["entries"]), 2)

    code, out, err = await intake(db_url, tmp_path, "kb", "export", "-o", "kb.yaml")
    assert code == 0, err
    exported = yaml.safe_load((tmp_path / "kb.yaml").read_text(encoding="utf-8"))
    assert [e["key"] for e in exported["entries"]] == sorted(e["key"] for e in starter["entries"])
    siren = next(e for e in exported["entries"] if e["key"] == "siren-test-day")
    assert str(siren["valid_from"]) == "2026-09-17" and siren["questions"][0] == "今天几点拉警报"
    assert exported["welcome"] == starter["welcome"]

    # Importing the export again changes nothing.
    code, out, _ = await intake(db_url, tmp_path, "kb", "import", "kb.yaml")
    assert code == 0 and f"未变 {len(starter['entries'])} 条" in out

    code, out, err = await intake(db_url, tmp_path, "kb", "export", "--format", "toml")
    assert code == 0, err
    as_toml = tomllib.loads(out)
    assert {e["key"] for e in as_toml["entries"]} == {e["key"] for e in starter["entries"]}
    (tmp_path / "kb.toml").write_text(out, encoding="utf-8")
    code, out, err = await intake(db_url, tmp_path, "kb", "import", "kb.toml")
    assert code == 0 and "新增 0 条，更新 0 条" in out, err


@pytest.mark.parametrize("breakage,reason", [
    (lambda d: d["entries"][2].update(answer=""), "entries[2].answer"),
    (lambda d: d["entries"].append({**d["entries"][0], "key": "siren-copy"}), "重叠"),
    (lambda d: d["rules"].append({"match": "regex", "pattern": "(", "reply": "x"}), "rules[2].pattern"),
    (lambda d: d.update(extra=1), "extra"),
])
async def test_a_bad_file_is_refused_whole(db_url, tmp_path, breakage, reason):
    code, _, err = await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    assert code == 0, err
    before = await counts(db_url)
    doc = yaml.safe_load(STARTER.read_text(encoding="utf-8"))
    for e in doc["entries"]:
        e["answer"] = "改过的答复：" + e["answer"]
    breakage(doc)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, out, err = await intake(db_url, tmp_path, "kb", "import", "bad.yaml")
    assert code == 2 and reason in err and "没有任何改动" in err
    assert await counts(db_url) == before
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            answers = (await conn.execute(select(KbEntry.answer))).scalars().all()
        assert not any(a.startswith("改过的答复") for a in answers)
    finally:
        await engine.dispose()


async def test_unreadable_files(db_url, tmp_path):
    (tmp_path / "broken.yaml").write_text("entries: [unclosed", encoding="utf-8")
    code, _, err = await intake(db_url, tmp_path, "kb", "import", "broken.yaml")
    assert code == 2 and "格式有误" in err
    code, _, err = await intake(db_url, tmp_path, "kb", "import", "missing.yaml")
    assert code == 2 and "读不了文件" in err


@pytest.fixture
async def fake():
    async with FakeWeChatApi() as f:
        yield f


def wechat_env(fake) -> dict:
    return {"INTAKE_WECHAT_API_BASE": fake.base_url, "INTAKE_WECHAT_APP_ID": WECHAT["app_id"],
            "INTAKE_WECHAT_APP_SECRET": APP_SECRET}


async def test_menu_push(db_url, tmp_path, fake):
    await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    code, out, err = await intake(db_url, tmp_path, "wechat", "menu", "push", str(MENU), **wechat_env(fake))
    assert code == 0, err
    menu = yaml.safe_load(MENU.read_text(encoding="utf-8"))
    assert fake.menu == menu and "已推送" in out
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(select(KeyValue.value).where(KeyValue.key == "answers.menu"))).scalar_one()
            assert json.loads(stored) == menu
    finally:
        await engine.dispose()


@pytest.mark.parametrize("breakage,names", [
    (lambda m: m["button"].append({"type": "click", "name": "第四个", "key": "office-hours"}), "最多 3"),
    (lambda m: m["button"][1]["sub_button"][0].update(name="人" * 21), "「常见问题」的第1个子菜单"),
    (lambda m: m["button"][0].update(name="防空警报试鸣安排"), "第1个菜单「防空警报试鸣安排」"),
    (lambda m: m["button"][2]["sub_button"][0].update(key="not-in-kb"), "not-in-kb"),
])
async def test_bad_menu_is_refused_before_anything_is_sent(db_url, tmp_path, fake, breakage, names):
    await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    menu = yaml.safe_load(MENU.read_text(encoding="utf-8"))
    breakage(menu)
    (tmp_path / "menu.yaml").write_text(yaml.safe_dump(menu, allow_unicode=True), encoding="utf-8")
    code, _, err = await intake(db_url, tmp_path, "wechat", "menu", "push", "menu.yaml", **wechat_env(fake))
    assert code == 2 and names in err and "未向微信发送" in err
    assert fake.calls == [] and fake.token_requests == [] and fake.menu is None


async def test_menu_refused_by_wechat_is_reported(db_url, tmp_path, fake):
    await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    fake.fail_next("cgi-bin/menu/create", errcode=65301, errmsg="no permission")
    code, _, err = await intake(db_url, tmp_path, "wechat", "menu", "push", str(MENU), **wechat_env(fake))
    assert code == 1 and "65301" in err
    assert fake.menu is None


async def test_import_into_a_fresh_database(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"  # never migrated
    code, out, err = await intake(url, tmp_path, "kb", "import", str(STARTER))
    # Only `serve` and `db upgrade` create a database: a typo in the URL must not start an empty one.
    assert code == 2 and url in err and "intake db upgrade" in err and "Traceback" not in err
    assert not (tmp_path / "fresh.db").exists()
    code, _, err = await intake(url, tmp_path, "db", "upgrade")
    assert code == 0, err
    code, out, err = await intake(url, tmp_path, "kb", "import", str(STARTER))
    assert code == 0 and "新增" in out, err


async def test_import_names_every_entry_whose_answer_still_holds_blanks(db_url, tmp_path):
    import re

    starter = yaml.safe_load(STARTER.read_text(encoding="utf-8"))
    blank = re.compile(r"【[^【】\n]*】")
    with_blanks = [e for e in starter["entries"] if blank.search(e["answer"])]
    assert len(with_blanks) >= 3  # the starter knowledge base ships with 【请填写电话】 and the like
    code, out, err = await intake(db_url, tmp_path, "kb", "import", str(STARTER))
    assert code == 0, err
    assert f"以下 {len(with_blanks)} 个条目的答复仍含【…】待填写的内容，修改之前不会用于自动答复" in out
    for e in with_blanks:
        line = next(ln for ln in out.splitlines() if f"（{e['key']}）" in ln or f"- {e['key']}：" in ln)
        assert (e.get("title") or e["questions"][0]) in line  # by its Chinese name first
        for b in blank.findall(e["answer"]):
            assert b in line
    for e in starter["entries"]:
        if e not in with_blanks:
            assert f"（{e['key']}）" not in out

    # Filled in (or knowingly allowed), the file imports without the warning.
    for i, e in enumerate(with_blanks):
        if i == 0:
            e["placeholders_allowed"] = True
        else:
            e["answer"] = blank.sub("0000-12345678", e["answer"])
    (tmp_path / "filled.yaml").write_text(yaml.safe_dump(starter, allow_unicode=True), encoding="utf-8")
    code, out, err = await intake(db_url, tmp_path, "kb", "import", "filled.yaml")
    assert code == 0, err
    assert f"更新 {len(with_blanks)} 条" in out and "待填写" not in out

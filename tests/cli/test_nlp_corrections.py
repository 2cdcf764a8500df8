"""`intake nlp train --with-corrections` reads staff corrections from a real
SQLite database (schema by the project's migrations, rows via the models):
the intake command gives nlp the loader (nlp itself knows no database)."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bot.cli.nlp import load_corrections

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli():
    def run(*args, env=None):
        e = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                              encoding="utf-8", errors="replace", env=e, cwd=REPO, timeout=300)

    return run


def _make_db(path, corrections):
    from storage.db import create_engine, sessionmaker
    from storage.migrate import upgrade
    from storage.models import Case, Correction

    url = f"sqlite+aiosqlite:///{path}"

    async def run():
        engine = create_engine(url)
        try:
            await upgrade(engine)  # an empty database: no tokeniser needed
            now = datetime.now(timezone.utc)
            async with sessionmaker(engine)() as s:
                case = Case(number="T-2026-000001", channel="wechat", kind="other", topic="general",
                            text=corrections[0][0], received_at=now, received_date=date.today(),
                            received_year=now.year, last_message_at=now)
                s.add(case)
                await s.flush()
                for text, kind, topic in corrections:
                    s.add(Correction(case_id=case.id, text=text, kind=kind, topic=topic,
                                     previous_kind="other", previous_topic="general"))
                await s.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())
    return url


CORRECTIONS = [(f"锦旗送给人防办的小王同志{i}", "praise", "siren") for i in range(6)] + [
    ("防护门的问题怎么没人管", "complaint", "shelter"),
    ("一条未知主题的更正", "help", "not-a-topic"),  # unknown topic: only the kind is used
]


def test_load_corrections_from_sqlite(tmp_path):
    url = _make_db(tmp_path / "intake.db", CORRECTIONS)
    got = load_corrections(url)
    assert got == CORRECTIONS


def test_train_with_corrections_uses_the_database(tmp_path, cli):
    url = _make_db(tmp_path / "intake.db", CORRECTIONS)
    f = tmp_path / "train.csv"
    f.write_text("text,kind,topic\n" + "".join(
        f"请问人防车位怎么租{i},consultation,parking\n举报有人占用人防工程{i},report,shelter\n" for i in range(5)),
        encoding="utf-8")
    model = tmp_path / "m.json"
    env = {"INTAKE_DATABASE_URL": url, "INTAKE_NLP_DIR": str(tmp_path / "nlpdir")}
    r = cli("nlp", "train", str(f), "--with-corrections", "-o", str(model), env=env)
    assert r.returncode == 0, r.stderr
    assert "staff corrections: 8 rows" in r.stderr
    data = json.loads(model.read_text(encoding="utf-8"))
    assert data["meta"]["rows"] == 18
    # the corrections taught the model classes the file does not have
    assert data["heads"]["kind"]["counts"] == {"consultation": 5, "report": 5, "praise": 6, "complaint": 1, "help": 1}
    assert data["heads"]["topic"]["counts"] == {"parking": 5, "shelter": 6, "siren": 6}
    # --no-corrections: the file alone, even with the database configured
    r = cli("nlp", "train", str(f), "--no-corrections", "-o", str(model), env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(model.read_text(encoding="utf-8"))["meta"]["rows"] == 10


def test_python_m_nlp_alone_says_where_corrections_come_from(tmp_path):
    f = tmp_path / "train.csv"
    f.write_text("text,kind\n请问,consultation\n举报,report\n", encoding="utf-8")
    e = {**os.environ, "PYTHONPATH": str(REPO), "INTAKE_NLP_DIR": str(tmp_path / "nlpdir")}
    r = subprocess.run([sys.executable, "-m", "nlp.cli", "nlp", "train", str(f), "--with-corrections", "-o",
                        str(tmp_path / "m.json")], capture_output=True, text=True, env=e, cwd=REPO, timeout=300)
    assert r.returncode == 2 and "intake nlp train" in r.stderr and "Traceback" not in r.stderr


def test_with_corrections_and_a_broken_database_is_a_clear_error(tmp_path, cli):
    f = tmp_path / "train.csv"
    f.write_text("text,kind\n请问,consultation\n举报,report\n", encoding="utf-8")
    env = {"INTAKE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never_migrated.db'}",
           "INTAKE_NLP_DIR": str(tmp_path / "nlpdir")}
    r = cli("nlp", "train", str(f), "--with-corrections", "-o", str(tmp_path / "m.json"), env=env)
    assert r.returncode == 2 and "staff corrections" in r.stderr and "Traceback" not in r.stderr

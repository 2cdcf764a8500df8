import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("INTAKE_SHARED_DATA", REPO / ".." / "shared" / "data")).resolve()
FRESH = Path(__file__).with_name("data") / "fresh_voices.csv"


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    p = DATA / "messages_dev.csv"
    if not p.exists():
        pytest.skip(f"shared data not found at {p} (set INTAKE_SHARED_DATA)")
    return p


@pytest.fixture(scope="session")
def clf():
    import nlp

    return nlp.load_classifier()


def run_cli(*args, input_bytes=None, env=None, cwd=None):
    import subprocess

    e = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "nlp.cli", *args], input=input_bytes, capture_output=True, text=True, encoding="utf-8", errors="replace",
                          env=e, cwd=cwd or REPO, timeout=300)


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(scope="session")
def fresh_csv() -> Path:
    return FRESH

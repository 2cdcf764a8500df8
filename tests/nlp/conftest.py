import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The hand-labelled dev messages, vendored from shared/data (tests/data/README.md).
DATA = Path(os.environ.get("INTAKE_SHARED_DATA", REPO / "tests" / "data")).resolve()
FRESH = Path(__file__).with_name("data") / "fresh_voices.csv"


@pytest.fixture(scope="session")
def dev_csv() -> Path:
    p = DATA / "messages_dev.csv"
    if not p.exists():
        pytest.fail(f"labelled messages not found at {p} (INTAKE_SHARED_DATA points elsewhere?)")
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

"""The shipped systemd units (deploy/*.service, *.timer) as systemd reads
them: `systemd-analyze verify` finds no unknown key, bad value or missing
program (with the programs' deployment paths pointed at this checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
INSTALLED = {  # where docs/deployment.md installs them → here
    "/srv/intake/.venv/bin/intake": str(Path(sys.executable).with_name("intake")),
    "/usr/local/bin/intake-pg-dump": str(DEPLOY / "intake-pg-dump"),
}


def test_systemd_reads_the_units_without_a_complaint(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    assert {u.name for u in UNITS} >= {"intake.service", "intake-backup.service", "intake-backup.timer",
                                       "intake-pg-dump.service", "intake-pg-dump.timer"}
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        for deployed, here in INSTALLED.items():
            text = text.replace(deployed, here)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", *(str(tmp_path / u.name) for u in UNITS)],
                          capture_output=True, text=True, timeout=60)
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if str(tmp_path) in line
                  or any(u.name in line for u in UNITS)]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr


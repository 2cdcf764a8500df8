"""The house rules are import-linter contracts (pyproject.toml, run by
`make test`); this keeps the contract's list of handler modules complete,
so a new handler is held to "handlers do not import one another" too."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_handler_module_is_in_the_independence_contract():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "independence"]
    modules = {f"handlers.{p.stem}" for p in (REPO / "handlers").glob("*.py") if p.stem != "__init__"}
    assert set(contract["modules"]) == modules | {"handlers.common"}


def test_no_handler_imports_sqlalchemy_or_storage():
    # The issue's own check, as it would be run by hand.
    for path in (REPO / "handlers").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not line.lstrip().startswith(("import sqlalchemy", "from sqlalchemy", "from storage",
                                                 "import storage")), f"{path}: {line}"

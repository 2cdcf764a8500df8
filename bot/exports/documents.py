"""Knowledge-base and menu files: YAML (.yaml/.yml), TOML (.toml) or JSON."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.domain.answers import AnswersError


def read_document(path: str | Path) -> Any:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise AnswersError(f"读不了文件 {p}：{exc.strerror}") from None
    try:
        if p.suffix.lower() == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
        if p.suffix.lower() == ".json":
            return json.loads(raw.decode("utf-8"))
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise AnswersError(f"{p} 不是 UTF-8 编码的文本") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise AnswersError(f"{p} 格式有误：{exc}") from None


def dump_document(doc: dict, fmt: str) -> str:
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(doc)
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)

"""The TOML file's lifecycle tables: [extensions] (an admin's approval, the
most working days per kind) and [ratings] (re-handlings before a leader
takes over); a mistake in them is a clear error, not a silent default."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def settings_from(tmp_path, toml: str):
    path = tmp_path / "intake.toml"
    path.write_text(toml, encoding="utf-8")
    return load_settings({"INTAKE_CONFIG": str(path), "INTAKE_SECRET_KEY": "k" * 32,
                          "INTAKE_VAR_DIR": str(tmp_path / "var")}, create_secret=False)


def test_extensions_and_ratings_tables(tmp_path):
    s = settings_from(tmp_path, "[extensions]\nrequire_approval = true\ncomplaint = 10\n\n[ratings]\nmax_reopen = 1\n")
    assert s.extension_approval and s.extension_limit("complaint") == 10 and s.max_reopen_by_rating == 1
    assert s.extension_limit("consultation") == 3  # by default as long as the kind's own limit
    plain = settings_from(tmp_path, "")
    assert not plain.extension_approval and plain.max_reopen_by_rating == 2


@pytest.mark.parametrize("toml,words", [
    ("[extensions]\ncomplaintt = 10\n", "complaintt"),
    ("[extensions]\ncomplaint = \"ten\"\n", "0 to 365"),
    ("[extensions]\ncomplaint = -1\n", "0 to 365"),
    ("[extensions]\nrequire_approval = \"yes\"\n", "true or false"),
    ("ratings = 3\n", "[ratings]"),
    ("[wechat_notice]\ntemplate = \"x\"\n", "'template'"),
    ("[wechat_notice]\nfields = {numbr = \"thing1\"}\n", "'numbr'"),
    ("[wechat_notice]\nfields = {number = \"案件编号\"}\n", "such as thing3"),
])
def test_mistakes_in_the_tables_are_named(tmp_path, toml, words):
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, toml)
    assert words in str(info.value)


def test_the_shipped_example_loads_with_its_notice_template(tmp_path):
    from pathlib import Path

    example = (Path(__file__).resolve().parents[2] / "deploy" / "intake.toml.example").read_text(encoding="utf-8")
    s = settings_from(tmp_path, example)
    assert s.public_url == "https://xinfang.example.gov.cn" and s.wechat_notice_template == "your-template-id"
    assert s.wechat_notice_fields["number"] == "character_string1" and s.hotline_sync_minutes == 10
    assert settings_from(tmp_path, "").wechat_notice_template is None

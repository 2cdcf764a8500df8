"""Settings from the environment (INTAKE_*), optionally mirrored in a TOML file.

Precedence: environment > TOML file (INTAKE_CONFIG, or ./intake.toml) > defaults.
Secrets never appear in ``repr`` or logs.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

SECRET_FIELDS = frozenset(
    {"secret_key", "wechat_token", "wechat_app_secret", "wechat_aes_key", "hotline_secret"}
)

# Handling limits in legal working days per kind (DOMAIN.md §2, Sichuan-style
# defaults); a channel may override some kinds, e.g. [deadlines.hotline].
DEFAULT_DEADLINE_DAYS: dict[str, int] = {
    "consultation": 3,
    "help": 7,
    "suggestion": 7,
    "complaint": 15,
    "report": 15,
    "praise": 7,
    "disclosure_request": 20,  # 条例 第三十三条
    "other": 7,
}


URL_FIELDS = frozenset({"database_url", "hotline_callback_url", "hotline_pull_url", "wechat_api_base", "public_url"})


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# Our values in a WeChat notice → the template's keys (bot/domain/notices.py);
# [wechat_notice] fields in the TOML file replaces this.
DEFAULT_NOTICE_FIELDS = {"number": "character_string1", "status": "phrase2", "title": "thing3", "time": "time4",
                         "note": "thing5"}
NOTICE_VALUES = frozenset(DEFAULT_NOTICE_FIELDS)
_NOTICE_KEY = re.compile(r"[a-z_]+[0-9]{1,2}")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///var/intake.db"
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = field(default="", repr=False)
    wechat_token: str | None = field(default=None, repr=False)
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = field(default=None, repr=False)
    wechat_aes_key: str | None = field(default=None, repr=False)
    wechat_api_base: str = "https://api.weixin.qq.com/"
    hotline_secret: str | None = field(default=None, repr=False)
    hotline_callback_url: str | None = None
    # Reconciliation (对账): where orders and events changed since a time are
    # pulled from, and how often (minutes; 0: only `intake hotline sync`).
    hotline_pull_url: str | None = None
    hotline_sync_minutes: int = 10
    # 签收: on receipt (True), or by a staff click (False: the 未签收 view).
    hotline_auto_accept: bool = True
    timezone: str = "Asia/Shanghai"
    office_name: str = ""  # 机关名称, printed on answer letters and the report draft
    var_dir: str = "var"
    # Behaviour the office may tune.
    thread_window_minutes: int = 30
    max_body_bytes: int = 64 * 1024
    deadline_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    channel_deadline_days: dict[str, dict[str, int]] = field(default_factory=dict)
    trust_proxy: bool = False
    # 延期 ([extensions]): the most working days a case of a kind may be
    # extended by in all, and whether an admin must approve a staff request.
    extension_max_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    extension_approval: bool = False
    # 回访 ([ratings]): re-handlings after low ratings before a leader takes it (督办).
    max_reopen_by_rating: int = 2
    # Where citizens reach this site (links in WeChat notices to /track).
    public_url: str | None = None
    # 订阅通知 ([wechat_notice]): the template WeChat notices use, and which of
    # its keys carries each of our values (bot/domain/notices.py).
    wechat_notice_template: str | None = None
    wechat_notice_fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NOTICE_FIELDS))
    # The progress look-up (/track): look-ups one address may make a minute.
    track_lookups_per_minute: int = 20
    # The web letter box: letters one address may send per window (429 after).
    letters_per_address: int = 5
    letters_window_minutes: int = 10
    # Slow clients: a request's headers must arrive within this many seconds
    # of the connection opening (or of the previous response: an idle
    # keep-alive connection is closed then too), its body within the other.
    header_timeout_seconds: int = 20
    body_timeout_seconds: int = 60

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def thread_window(self) -> timedelta:
        return timedelta(minutes=self.thread_window_minutes)

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token)

    @property
    def hotline_enabled(self) -> bool:
        return bool(self.hotline_secret)

    def deadline_days_for(self, channel: str, kind: str) -> int:
        per_channel = self.channel_deadline_days.get(channel, {})
        return per_channel.get(kind, self.deadline_days.get(kind, DEFAULT_DEADLINE_DAYS["other"]))

    def extension_limit(self, kind: str) -> int:
        return self.extension_max_days.get(kind, DEFAULT_DEADLINE_DAYS["other"])

    def describe(self) -> dict[str, str]:
        """Settings for display: secrets shown only as set/unset, passwords in
        URLs (database, callback) masked."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                out[f.name] = "(set)" if value else "(unset)"
            elif f.name in URL_FIELDS and value:
                out[f.name] = mask_url_password(str(value))
            else:
                out[f.name] = str(value)
        return out


_INT_FIELDS = {"port", "thread_window_minutes", "max_body_bytes", "max_reopen_by_rating", "hotline_sync_minutes",
               "track_lookups_per_minute", "letters_per_address", "letters_window_minutes", "header_timeout_seconds",
               "body_timeout_seconds"}
_BOOL_FIELDS = {"trust_proxy", "extension_approval", "hotline_auto_accept"}
_TABLES = {"deadline_days", "channel_deadline_days", "extension_max_days", "wechat_notice_fields"}  # TOML only


def _coerce(name: str, value: object) -> object:
    if name in _INT_FIELDS:
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"INTAKE_{name.upper()} must be an integer, got {value!r}") from None
    if name in _BOOL_FIELDS and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def load_settings(env: dict[str, str] | None = None, *, create_secret: bool = True) -> Settings:
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    config_path = env.get("INTAKE_CONFIG") or ("intake.toml" if Path("intake.toml").exists() else None)
    if config_path:
        data = _read_toml(config_path)
        deadlines = data.pop("deadlines", {})
        if deadlines:
            try:
                values["deadline_days"] = {
                    **DEFAULT_DEADLINE_DAYS,
                    **{k: int(v) for k, v in deadlines.items() if not isinstance(v, dict)},
                }
                values["channel_deadline_days"] = {
                    ch: {k: int(v) for k, v in sub.items()} for ch, sub in deadlines.items() if isinstance(sub, dict)
                }
            except (TypeError, ValueError, AttributeError):
                raise ConfigError(f"[deadlines] in {config_path}: a kind's limit must be a number of working days, "
                                  f"per channel in [deadlines.CHANNEL]") from None
        extensions = data.pop("extensions", {})
        if not isinstance(extensions, dict):
            raise ConfigError(f"[extensions] in {config_path} must be a table")
        if "require_approval" in extensions:
            approval = extensions.pop("require_approval")
            if not isinstance(approval, bool):
                raise ConfigError(f"[extensions] require_approval in {config_path} must be true or false")
            values["extension_approval"] = approval
        unknown = sorted(set(extensions) - set(DEFAULT_DEADLINE_DAYS))
        if unknown:
            raise ConfigError(f"[extensions] in {config_path}: unknown kind {unknown[0]!r} "
                              f"(kinds: {', '.join(DEFAULT_DEADLINE_DAYS)})")
        if any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 365 for v in extensions.values()):
            raise ConfigError(f"[extensions] in {config_path}: a kind's maximum must be 0 to 365 working days")
        values["extension_max_days"] = {**DEFAULT_DEADLINE_DAYS, **extensions}
        ratings = data.pop("ratings", {})
        if not isinstance(ratings, dict):
            raise ConfigError(f"[ratings] in {config_path} must be a table")
        if "max_reopen" in ratings:
            values["max_reopen_by_rating"] = ratings["max_reopen"]
        values.update(_notice_settings(data.pop("wechat_notice", {}), config_path))
        known = {f.name for f in fields(Settings)}
        for key, value in data.items():
            name = key.lower().removeprefix("intake_")
            if name not in known:
                raise ConfigError(f"unknown setting {key!r} in {config_path}")
            values[name] = value
    for f in fields(Settings):
        raw = env.get(f"INTAKE_{f.name.upper()}")
        if raw not in (None, "") and f.name not in _TABLES:
            values[f.name] = raw
    values = {k: _coerce(k, v) for k, v in values.items()}
    settings = Settings(**values)  # type: ignore[arg-type]
    try:
        settings.tz
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"INTAKE_TIMEZONE {settings.timezone!r} is not a known time zone") from None
    if settings.letters_per_address < 1 or settings.letters_window_minutes < 1:
        raise ConfigError("INTAKE_LETTERS_PER_ADDRESS and INTAKE_LETTERS_WINDOW_MINUTES must be at least 1")
    if not (1 <= settings.header_timeout_seconds <= 3600 and 1 <= settings.body_timeout_seconds <= 3600):
        raise ConfigError("INTAKE_HEADER_TIMEOUT_SECONDS and INTAKE_BODY_TIMEOUT_SECONDS must be 1 to 3600 seconds")
    if settings.wechat_aes_key is not None and len(settings.wechat_aes_key) != 43:
        raise ConfigError("INTAKE_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
    return with_secret(settings, create=True) if create_secret else settings


def _read_toml(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None


def is_postgresql(database_url: str) -> bool:
    return urlsplit(database_url).scheme.split("+", 1)[0] in ("postgresql", "postgres")


def with_secret(settings: Settings, *, create: bool) -> Settings:
    """``settings`` with the session-signing key: INTAKE_SECRET_KEY, or (on
    SQLite, one host) the key kept in var/secret_key, generated there when
    ``create`` (``intake serve``, ``intake db upgrade``); other commands read
    the key the server uses and never make one of their own.

    On PostgreSQL the key must be set: several hosts share the database, and
    a key generated into each host's var/ would differ per host (sessions
    signed on one would fail on the other, 查询码 and applicants' encrypted
    details would not match). It is not kept in the database either: it
    encrypts applicants' details in that database, so a dump must not carry
    it."""
    if settings.secret_key:
        return settings
    if is_postgresql(settings.database_url):
        raise ConfigError("INTAKE_SECRET_KEY must be set when the database is PostgreSQL (the same key on every "
                          "host: it signs sessions and 查询码 and encrypts applicants' details; a key generated "
                          "into each host's var/ would differ per host)")
    return Settings(**{**_asdict(settings), "secret_key": _persistent_secret(Path(settings.var_dir), create=create)})


def _notice_settings(table: object, config_path: str) -> dict[str, object]:
    """[wechat_notice]: ``template_id`` and ``fields`` (our value → template key)."""
    if not isinstance(table, dict):
        raise ConfigError(f"[wechat_notice] in {config_path} must be a table")
    out: dict[str, object] = {}
    unknown = sorted(set(table) - {"template_id", "fields"})
    if unknown:
        raise ConfigError(f"[wechat_notice] in {config_path}: unknown setting {unknown[0]!r}")
    if "template_id" in table:
        if not isinstance(table["template_id"], str) or not table["template_id"].strip():
            raise ConfigError(f"[wechat_notice] template_id in {config_path} must be a template id")
        out["wechat_notice_template"] = table["template_id"].strip()
    if "fields" in table:
        mapping = table["fields"]
        if not isinstance(mapping, dict) or not mapping:
            raise ConfigError(f"[wechat_notice] fields in {config_path} must be a table such as "
                              f"{{number = \"character_string1\"}}")
        for name, key in mapping.items():
            if name not in NOTICE_VALUES:
                raise ConfigError(f"[wechat_notice] fields in {config_path}: unknown value {name!r} "
                                  f"(one of {', '.join(sorted(NOTICE_VALUES))})")
            if not isinstance(key, str) or not _NOTICE_KEY.fullmatch(key):
                raise ConfigError(f"[wechat_notice] fields in {config_path}: {name} must name a template key "
                                  f"such as thing3, got {key!r}")
        out["wechat_notice_fields"] = dict(mapping)
    return out


def _asdict(settings: Settings) -> dict[str, object]:
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


def _persistent_secret(var_dir: Path, *, create: bool = True) -> str:
    """Generate the session-signing key once and keep it in var/, so sessions
    survive restarts and all workers on the machine agree on it. Written to a
    temporary file (mode 0600) and linked into place, so no process ever
    reads it half written; var/ is made 0700 when we make it."""
    path = var_dir / "secret_key"
    if not path.exists():
        if not create:
            raise ConfigError(f"no secret key: {path.resolve()} does not exist and INTAKE_SECRET_KEY is not set "
                              f"(run the command where the server runs, with its settings)")
        make_private_dir(var_dir)
        tmp = var_dir / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process got there first: theirs wins
            log.warning("INTAKE_SECRET_KEY is not set: generated one into %s (keep this file private)", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it to generate a new key, or set INTAKE_SECRET_KEY")
    return key


def make_private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) if missing; the directory we make
    for the data is the owner's alone (0700). An existing one is left as the
    operator set it."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass

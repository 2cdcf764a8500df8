"""What every command shares: logging, settings, the database, a runtime for
one command, and the one-line errors an operator sees."""

from __future__ import annotations

import contextlib
import errno
import logging
import sys

from bot.config import Settings, load_settings, mask_url_password, with_secret
from bot.services.runtime import Runtime


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class CliError(Exception):
    """A problem the operator can fix: said in one line, no traceback."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = 2) -> int:
    print(f"错误：{message}", file=sys.stderr)
    return code


def command_settings() -> Settings:
    """The settings ``intake serve`` reads (environment, then INTAKE_CONFIG
    or ./intake.toml), without the secret key yet: ``runtime`` adds it once
    the database is found."""
    return load_settings(create_secret=False)


async def existing_database(settings: Settings, *, key: bool = True) -> Settings:
    """``settings`` with their secret key (``key``), once the database they
    name is found set up; a command other than ``serve`` and ``db upgrade``
    never creates a database (nor a key): it says which URL it looked for."""
    from sqlalchemy.exc import DBAPIError

    from storage.migrate import NoDatabase, require_schema

    shown = mask_url_password(settings.database_url)
    try:
        await require_schema(settings.database_url)
    except NoDatabase as exc:
        raise CliError(f"没有找到数据库 {shown}（{exc}）。请在服务运行的目录、用服务的设置"
                       f"（INTAKE_DATABASE_URL 或 INTAKE_CONFIG）运行；新安装请先运行 intake db upgrade", 2) from None
    except (OSError, DBAPIError, TimeoutError) as exc:
        raise CliError(f"无法连接数据库 {shown}：{reason(exc)}") from None
    return with_secret(settings, create=False) if key else settings


@contextlib.asynccontextmanager
async def runtime(settings: Settings | None = None, *, migrate: bool = True, classifier=None):
    """A runtime for one command (no background work) on the database
    ``intake serve`` uses, which must exist; migrated first when it is behind
    (``migrate``)."""
    from bot.app import build_runtime
    from bot.app import migrate as apply_migrations

    settings = await existing_database(settings or command_settings())
    rt: Runtime = build_runtime(settings, classifier=classifier or _no_classifier())
    try:
        if migrate:
            await apply_migrations(rt.db, rt.settings.timezone)
        yield rt
    finally:
        await rt.db.close()


_ERRNO_WORDS = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.ENOSPC: "磁盘空间不足",
    errno.EROFS: "文件系统只读",
    errno.EISDIR: "是一个目录",
    errno.ENOTDIR: "路径中有一项不是目录",
    errno.EADDRINUSE: "地址已被占用",
    errno.EADDRNOTAVAIL: "本机没有这个地址",
    errno.ECONNREFUSED: "连接被拒绝",
}


def reason(exc: BaseException) -> str:
    """One line saying what went wrong, for an operator: no traceback, no
    SQL, no bound values."""
    if isinstance(exc, OSError):
        words = _ERRNO_WORDS.get(exc.errno or 0) or exc.strerror or str(exc) or type(exc).__name__
        return f"{words}：{exc.filename}" if exc.filename else words
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper: the driver's own message
    text = str(orig if orig is not None else exc) or type(exc).__name__
    return text.strip().splitlines()[0]


def database_unavailable(exc: BaseException) -> bool:
    """An error of the database's connection, not of our statements."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))


class _LazyClassifier:
    """Loads the classifier on first use: most commands never classify."""

    def __init__(self):
        self._clf = None

    def classify(self, text: str, *, hint_kind: str | None = None):
        if self._clf is None:
            from nlp import load_classifier

            self._clf = load_classifier()
        return self._clf.classify(text, hint_kind=hint_kind)


def _no_classifier() -> _LazyClassifier:
    return _LazyClassifier()

"""Who acts: a staff member through the inbox or an API token, a channel,
the system. The label is what the audit trail records."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Forbidden


@dataclass(frozen=True, slots=True)
class Actor:
    label: str  # user:<name>, token:<name>, channel:<channel>, cli, system
    user_id: int | None = None
    username: str | None = None
    display_name: str | None = None
    role: str | None = None  # admin | staff

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def name(self) -> str:
        """How the citizen's side and reports name the handler."""
        return self.display_name or self.username or self.label


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A staff account as pages list it (never its password hash)."""

    id: int
    username: str
    display_name: str | None
    role: str
    active: bool

    @property
    def name(self) -> str:
        return self.display_name or self.username


SYSTEM = Actor("system")
CLI = Actor("cli")


def require_admin(actor: Actor, message: str = "只有管理员可以进行此操作") -> None:
    if not actor.is_admin:
        raise Forbidden(message)

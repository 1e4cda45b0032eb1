"""Users and personal access tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.db.models import ApiToken, User, utcnow
from cashout_server.ids import new_id
from cashout_server.security.passwords import hash_password
from cashout_server.security.tokens import Role, Scope, generate_token, hash_token, token_hint


class UserError(ValueError):
    """A user or token request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: ``secret`` is shown once and never stored."""

    row: ApiToken
    secret: str


def normalise_email(email: str) -> str:
    """Trim and lower-case an address, rejecting what is clearly not one."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or not domain or " " in value or len(value) > 320:
        raise UserError(f"{email!r} is not an e-mail address")
    return value


async def user_count(session: AsyncSession) -> int:
    """How many users exist."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with ``email`` (case-insensitive), if any."""
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def create_user(
    session: AsyncSession, *, email: str, name: str = "", role: Role = Role.MEMBER, password: str | None = None
) -> User:
    """Create a user; the first owner is created by :func:`ensure_owner`.

    Raises:
        UserError: the address is invalid or taken, or a second owner was asked for.
    """
    address = normalise_email(email)
    if await session.scalar(select(User.id).where(User.email == address)) is not None:
        raise UserError(f"a user with e-mail {address} already exists")
    if role is Role.OWNER and await session.scalar(select(User.id).where(User.role == Role.OWNER.value)):
        raise UserError("there is already an owner; create an admin instead")
    if password is not None and len(password) < 12:
        raise UserError("passwords must be at least 12 characters")
    user = User(
        public_id=new_id("user"),
        email=address,
        name=name,
        role=role.value,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def issue_token(
    session: AsyncSession,
    user: User,
    *,
    name: str,
    scope: Scope = Scope.WRITE,
    expires_at: datetime | None = None,
    ttl_days: int | None = None,
) -> IssuedToken:
    """Create a token for ``user``; the returned secret is the only copy.

    Raises:
        UserError: an admin scope for a member, or an expiry in the past.
    """
    if scope is Scope.ADMIN and not Role(user.role).is_admin:
        raise UserError("only owners and admins can hold admin-scoped tokens")
    if expires_at is None and ttl_days is not None:
        expires_at = utcnow() + timedelta(days=ttl_days)
    if expires_at is not None and expires_at <= utcnow():
        raise UserError("the expiry must be in the future")
    secret = generate_token()
    row = ApiToken(
        public_id=new_id("token"),
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        hint=token_hint(secret),
        scope=scope.value,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row, ["user"])
    return IssuedToken(row=row, secret=secret)


async def revoke_token(session: AsyncSession, token: ApiToken) -> None:
    """Revoke ``token`` (kept for the record, never valid again)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()


async def update_user(
    session: AsyncSession, user: User, *, name: str | None, role: Role | None, disabled: bool | None
) -> User:
    """Change a user's name, role or whether they may sign in.

    Raises:
        UserError: making someone owner, or demoting or disabling the owner.
    """
    if role is Role.OWNER and user.role != Role.OWNER.value:
        raise UserError("there is one owner; make this user an admin instead")
    if user.role == Role.OWNER.value and (role not in (None, Role.OWNER) or disabled):
        raise UserError("the owner cannot be demoted or disabled")
    if name is not None:
        user.name = name
    if role is not None:
        user.role = role.value
    if disabled is not None:
        user.disabled = disabled
    await session.flush()
    return user


async def ensure_owner(session: AsyncSession, email: str) -> IssuedToken | None:
    """On first start create the owner and an admin token; ``None`` when users already exist."""
    if await user_count(session):
        return None
    owner = await create_user(session, email=email, name="Owner", role=Role.OWNER)
    return await issue_token(session, owner, name="first-start", scope=Scope.ADMIN)

"""Request authentication (bearer personal access tokens) and authorisation guards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import select, update

from cashout_server.db.models import ApiToken, utcnow
from cashout_server.runtime import Runtime
from cashout_server.security.tokens import TOKEN_PREFIX, Role, Scope, hash_token

PUBLIC_PATHS = {"/healthz", "/readyz", "/schema", "/media/", "/feeds/", "/webhooks/", "/paid"}
"""Paths (and their sub-paths) reachable without a token; webhooks verify their own signatures."""

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user and the token's scope."""

    user_id: int
    user_public_id: str
    email: str
    role: Role
    scope: Scope
    token_id: int

    @property
    def is_admin(self) -> bool:
        """An owner or admin using an admin-scoped token."""
        return self.role.is_admin and self.scope is Scope.ADMIN


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthorizedException(detail="an API token is required: send 'Authorization: Bearer <token>'")
    token = value.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise NotAuthorizedException(detail="the token is not a cashout token")
    return token


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer cashout_pat_...`` to a :class:`Principal`."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Look the token up by its hash; reject unknown, revoked, expired or disabled ones."""
        token = _bearer(connection)
        runtime: Runtime = connection.app.state.runtime
        async with runtime.session() as session:
            row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
            now = utcnow()
            if row is None or row.revoked_at is not None:
                raise NotAuthorizedException(detail="the token is not valid or has been revoked")
            if row.expires_at is not None and row.expires_at <= now:
                raise NotAuthorizedException(detail="the token has expired")
            if row.user.disabled:
                raise NotAuthorizedException(detail="the token's user is disabled")
            if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
                await session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
                await session.commit()
            principal = Principal(
                user_id=row.user_id,
                user_public_id=row.user.public_id,
                email=row.user.email,
                role=Role(row.user.role),
                scope=Scope(row.scope),
                token_id=row.id,
            )
        return AuthenticationResult(user=principal, auth=row.id)


async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Enforce scopes and roles on every authenticated route.

    Async although it awaits nothing: Litestar runs a plain-function guard in a worker thread,
    a thread hop on every request that cost more than the rest of the stack together.

    Writes (any method but GET/HEAD/OPTIONS) need a ``write`` token. Handlers marked with
    ``opt={"admin": True}`` need an owner or admin user with an ``admin`` token.
    """
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        return  # public route: the middleware did not run
    if handler.opt.get("admin"):
        if not principal.role.is_admin:
            raise PermissionDeniedException(detail="only an owner or admin may do this")
        if not principal.scope.allows(Scope.ADMIN):
            raise PermissionDeniedException(detail="this needs a token with the 'admin' scope")
    if connection.scope.get("method", "GET") not in _SAFE_METHODS and not principal.scope.allows(Scope.WRITE):
        raise PermissionDeniedException(detail="this token is read-only; a 'write' token is needed")


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller of ``connection``."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):  # pragma: no cover - routes are authenticated
        raise NotAuthorizedException(detail="not authenticated")
    return user

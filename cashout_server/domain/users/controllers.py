"""``/api/v1/users`` and ``/api/v1/tokens``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from cashout_server.auth import Principal, principal_of
from cashout_server.db.models import ApiToken, User
from cashout_server.deps import Db
from cashout_server.domain.users import services
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, not_found
from cashout_server.security.tokens import Role, Scope


class UserOut(msgspec.Struct, kw_only=True):
    """A user."""

    id: str
    email: str
    name: str
    role: Role
    disabled: bool
    created_at: datetime


class UserCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new user (owners and admins only)."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    role: Role = Role.MEMBER


class UserUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a user (owners and admins only). A disabled user's tokens stop working."""

    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    role: Role | None = None
    disabled: bool | None = None


class TokenOut(msgspec.Struct, kw_only=True):
    """A token's record; the secret itself is never shown again."""

    id: str
    name: str
    user_id: str
    scope: Scope
    hint: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new token for the caller (or, for admins, for ``user_email``)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    scope: Scope = Scope.WRITE
    expires_at: datetime | None = None
    user_email: str | None = None


class TokenIssued(TokenOut, kw_only=True):
    """A token just created: ``token`` is shown this once."""

    token: str


def user_out(user: User) -> UserOut:
    """The API view of a user."""
    return UserOut(
        id=user.public_id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        disabled=user.disabled,
        created_at=user.created_at,
    )


def token_out(row: ApiToken) -> TokenOut:
    """The API view of a token."""
    return TokenOut(
        id=row.public_id,
        name=row.name,
        user_id=row.user.public_id,
        scope=Scope(row.scope),
        hint=row.hint,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def _user(db: Db, user_id: str) -> User:
    user = await db.scalar(select(User).where(User.public_id == user_id))
    if user is None:
        raise not_found("user", user_id)
    return user


async def _visible_token(db: Db, principal: Principal, token_id: str) -> ApiToken:
    """The token if it is the caller's own or the caller holds an admin token; else a 404."""
    row = await db.scalar(select(ApiToken).where(ApiToken.public_id == token_id))
    if row is None or (row.user_id != principal.user_id and not principal.is_admin):
        raise not_found("token", token_id)
    return row


class UserController(Controller):
    """People who use this server."""

    path = "/api/v1/users"
    tags = ["users"]

    @get("/me", operation_id="getCurrentUser")
    async def me(self, request: Request[Any, Any, Any], db: Db) -> UserOut:
        """The user the token belongs to."""
        user = await db.get_one(User, principal_of(request).user_id)
        return user_out(user)

    @get("/", operation_id="listUsers", opt={"admin": True})
    async def list_users(self, db: Db, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Page[UserOut]:
        """All users (owners and admins only)."""
        rows, after = await fetch_page(db, select(User), User.id, limit, cursor)
        return Page(data=[user_out(u) for u in rows], next_cursor=after)

    @post("/", operation_id="createUser", opt={"admin": True})
    async def create_user(self, db: Db, data: JSONBody[UserCreate]) -> UserOut:
        """Add a user (owners and admins only; there is one owner)."""
        try:
            user = await services.create_user(db, email=data.email, name=data.name, role=data.role)
        except services.UserError as exc:
            raise ProblemError(422, str(exc), slug="invalid-user") from None
        await db.commit()
        return user_out(user)

    @get("/{user_id:str}", operation_id="getUser")
    async def get_user(self, request: Request[Any, Any, Any], db: Db, user_id: FromPath[str]) -> UserOut:
        """One user: yourself, or anyone with an admin token."""
        principal = principal_of(request)
        user = await _user(db, user_id)
        if user.id != principal.user_id and not principal.is_admin:
            raise not_found("user", user_id)
        return user_out(user)

    @patch("/{user_id:str}", operation_id="updateUser", opt={"admin": True})
    async def update_user(self, db: Db, user_id: FromPath[str], data: JSONBody[UserUpdate]) -> UserOut:
        """Rename a user, change their role, or disable them (owners and admins only)."""
        user = await _user(db, user_id)
        try:
            await services.update_user(db, user, name=data.name, role=data.role, disabled=data.disabled)
        except services.UserError as exc:
            raise ProblemError(422, str(exc), slug="invalid-user") from None
        await db.commit()
        return user_out(user)


class TokenController(Controller):
    """Personal access tokens."""

    path = "/api/v1/tokens"
    tags = ["tokens"]

    @get("/", operation_id="listTokens")
    async def list_tokens(
        self, request: Request[Any, Any, Any], db: Db, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[TokenOut]:
        """The caller's tokens (an admin token sees everyone's)."""
        principal = principal_of(request)
        query = select(ApiToken)
        if not principal.is_admin:
            query = query.where(ApiToken.user_id == principal.user_id)
        rows, after = await fetch_page(db, query, ApiToken.id, limit, cursor)
        return Page(data=[token_out(t) for t in rows], next_cursor=after)

    @post("/", operation_id="createToken")
    async def create_token(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[TokenCreate]) -> TokenIssued:
        """Create a token; the response holds the secret, shown this once."""
        principal = principal_of(request)
        user = await db.get_one(User, principal.user_id)
        if data.user_email is not None and services.normalise_email(data.user_email) != user.email:
            if not principal.is_admin:
                raise ProblemError(403, "only an admin token can create tokens for other users", slug="forbidden")
            other = await services.get_user_by_email(db, data.user_email)
            if other is None:
                raise ProblemError(422, f"no user with e-mail {data.user_email!r}", slug="invalid-token")
            user = other
        if not principal.scope.allows(data.scope):
            raise ProblemError(403, "a token cannot create a token with a wider scope than its own", slug="forbidden")
        try:
            issued = await services.issue_token(db, user, name=data.name, scope=data.scope, expires_at=data.expires_at)
        except services.UserError as exc:
            raise ProblemError(422, str(exc), slug="invalid-token") from None
        await db.commit()
        out = token_out(issued.row)
        return TokenIssued(**msgspec.structs.asdict(out), token=issued.secret)

    @get("/{token_id:str}", operation_id="getToken")
    async def get_token(self, request: Request[Any, Any, Any], db: Db, token_id: FromPath[str]) -> TokenOut:
        """One token's record (never its secret)."""
        row = await _visible_token(db, principal_of(request), token_id)
        return token_out(row)

    @delete("/{token_id:str}", operation_id="revokeToken")
    async def revoke(self, request: Request[Any, Any, Any], db: Db, token_id: FromPath[str]) -> None:
        """Revoke a token (the caller's own, or anyone's with an admin token)."""
        row = await _visible_token(db, principal_of(request), token_id)
        await services.revoke_token(db, row)
        await db.commit()

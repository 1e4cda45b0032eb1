"""The ``cashout`` command: serve, migrate, users, tokens, keys, plugins, config, tui."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
from sqlalchemy import select

from cashout_server.settings import ConfigError, Settings, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None


def _run(fn: Callable[[Any], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``fn(runtime)`` with a fresh runtime and close it afterwards."""
    from cashout_server.runtime import build_runtime

    settings = settings or _settings()

    async def main() -> T:
        runtime = build_runtime(settings)
        try:
            return await fn(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


@click.group()
@click.version_option(package_name="cashout")
def main() -> None:
    """cashout: run a reseller's selling loop from one box."""


# --- serve -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Listen address (default CASHOUT_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default CASHOUT_PORT or 8000).")
@click.option("--no-scheduler", is_flag=True, help="Serve the API only; another process runs the jobs.")
@click.option(
    "--owner-email", default="owner@localhost", show_default=True, help="E-mail of the owner created on first start."
)
def serve(host: str | None, port: int | None, no_scheduler: bool, owner_email: str) -> None:
    """Apply migrations and start the server (with its scheduler)."""
    import uvicorn

    from cashout_server.app import create_app
    from cashout_server.db.migrate import upgrade
    from cashout_server.domain.users.services import ensure_owner
    from cashout_server.runtime import StartupError, check_credentials_decrypt, ensure_data_dir

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    try:
        settings = load_settings(server=overrides)
    except ConfigError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from None
    logging.basicConfig(level=settings.server.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request's full URL at INFO, and some platforms' token exchanges carry
    # secrets in the query string (Meta's fb_exchange_token): never below WARNING.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    ensure_data_dir(settings)
    upgrade(settings.database_url)

    async def prepare(runtime: Any) -> str | None:
        await check_credentials_decrypt(runtime)
        async with runtime.session() as session:
            issued = await ensure_owner(session, owner_email)
            await session.commit()
        return issued.secret if issued else None

    try:
        first_token = _run(prepare, settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    if first_token:
        click.echo("")
        click.echo(f"First start: created the owner {owner_email}. Their admin token, shown only this once:")
        click.echo(f"    {first_token}")
        click.echo("Keep it safe (a password manager). Make more with `cashout token create`.")
        click.echo("")
    # create_app builds the runtime itself, so the app's shutdown closes it (photo workers, HTTP).
    app = create_app(settings, scheduler=not no_scheduler)
    click.echo(f"cashout is serving at http://{settings.server.host}:{settings.server.port}  (API docs: /schema)")
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level=settings.server.log_level.lower())


# --- db ----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from cashout_server.db.migrate import upgrade
    from cashout_server.runtime import ensure_data_dir

    settings = _settings()
    ensure_data_dir(settings)
    upgrade(settings.database_url, revision)
    click.echo(f"database upgraded to {revision}")


@db.command("current")
def db_current() -> None:
    """Show the database's migration and the newest one the code has."""
    from cashout_server.db.migrate import current_revision, head_revision

    current = _run(lambda rt: current_revision(rt.engine))
    head = head_revision()
    click.echo(f"database: {current or '(empty)'}\ncode:     {head}")
    if current != head:
        sys.exit(1)


# --- config ------------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Configuration."""


@config.command("show")
def config_show() -> None:
    """Print every setting with secrets masked."""
    from cashout_server.settings import describe

    settings = _settings()
    click.echo(f"# config file: {settings.config_file or '(none)'}")
    for env, value, doc in describe(settings):
        click.echo(f"{env}={value}    # {doc}")


# --- users and tokens -----------------------------------------------------------------------


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.argument("email")
@click.option("--name", default="")
@click.option("--role", type=click.Choice(["admin", "member"]), default="member", show_default=True)
@click.option("--password", is_flag=True, help="Prompt for a password (stored as argon2id).")
def user_create(email: str, name: str, role: str, password: bool) -> None:
    """Create a user."""
    from cashout_server.domain.users.services import UserError, create_user
    from cashout_server.security.tokens import Role

    secret = click.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None

    async def go(runtime: Any) -> str:
        async with runtime.session() as session:
            created = await create_user(session, email=email, name=name, role=Role(role), password=secret)
            await session.commit()
            return str(created.public_id)

    try:
        public_id = _run(go)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {public_id} ({email}, {role})")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "email", required=True, help="E-mail of the user the token acts as.")
@click.option("--scope", type=click.Choice(["read", "write", "admin"]), default="write", show_default=True)
@click.option("--name", default="cli", show_default=True)
@click.option("--expires-days", type=click.IntRange(min=1), default=None, help="Expire after this many days.")
def token_create(email: str, scope: str, name: str, expires_days: int | None) -> None:
    """Create a token; it is printed once and never again."""
    from cashout_server.domain.users.services import UserError, get_user_by_email, issue_token
    from cashout_server.security.tokens import Scope

    settings = _settings()
    ttl = expires_days or settings.security.token_ttl_days

    async def go(runtime: Any) -> str:
        async with runtime.session() as session:
            found = await get_user_by_email(session, email)
            if found is None:
                raise UserError(f"no user with e-mail {email}")
            expires = datetime.now(UTC) + timedelta(days=ttl) if ttl else None
            issued = await issue_token(session, found, name=name, scope=Scope(scope), expires_at=expires)
            await session.commit()
            return issued.secret

    try:
        secret = _run(go, settings)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(secret)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (tok_...), as shown by `cashout token list`."""
    from cashout_server.db.models import ApiToken
    from cashout_server.domain.users.services import revoke_token

    async def go(runtime: Any) -> bool:
        async with runtime.session() as session:
            row = await session.scalar(select(ApiToken).where(ApiToken.public_id == token_id))
            if row is None:
                return False
            await revoke_token(session, row)
            await session.commit()
            return True

    if not _run(go):
        raise click.ClickException(f"no token with id {token_id}")
    click.echo(f"revoked {token_id}")


@token.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from cashout_server.db.models import ApiToken

    async def go(runtime: Any) -> list[ApiToken]:
        async with runtime.session() as session:
            return list(await session.scalars(select(ApiToken).order_by(ApiToken.id)))

    for row in _run(go):
        state = (
            "revoked" if row.revoked_at else ("expires " + row.expires_at.isoformat() if row.expires_at else "active")
        )
        click.echo(f"{row.public_id}  {row.user.email:<30} {row.scope:<6} {row.name:<20} {row.hint}  {state}")


# --- keys --------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Encryption keys for stored credentials."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Generate a new key, re-encrypt every stored credential with it, then retire the old keys."""
    from cryptography.fernet import Fernet

    from cashout_server.db.models import Connection
    from cashout_server.security.crypto import KEY_FILE, KeyRing, load_keyring, write_key_file

    settings = _settings()
    current = load_keyring(settings)
    if current.source == "env":
        raise click.ClickException(
            "keys come from CASHOUT_SECRET_KEYS: put a new key first in that list (keep the old ones after it), "
            "restart, run `cashout keys rotate` again with the new list, then drop the old keys"
        )
    path = settings.data_dir / KEY_FILE
    new_key = Fernet.generate_key()
    # The old keys stay in the file until every row is re-encrypted, so a crash here loses nothing.
    write_key_file(path, [new_key, *current.keys])
    ring = KeyRing([new_key, *current.keys], source=str(path))

    async def go(runtime: Any) -> int:
        async with runtime.session() as session:
            rows = list(await session.scalars(select(Connection).where(Connection.credentials_encrypted.is_not(None))))
            for row in rows:
                row.credentials_encrypted = ring.rotate(row.credentials_encrypted)
            await session.commit()
            return len(rows)

    count = _run(go, settings)
    write_key_file(path, [new_key])
    click.echo(f"rotated: {count} connection(s) re-encrypted with a new key; old keys removed from {path}")


# --- plugins -----------------------------------------------------------------------------


@main.group()
def plugins() -> None:
    """Installed platform plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_list(as_json: bool) -> None:
    """List installed plugins, their versions and capabilities."""
    from cashout_server.plugins import create_plugin_manager, descriptor_to_dict

    settings = _settings()
    registry = create_plugin_manager(allow=settings.plugins.plugins, modules=settings.plugins.plugin_modules)
    infos = sorted(registry.plugins.values(), key=lambda i: i.name)
    if as_json:
        data = [
            {
                "name": i.name,
                "distribution": i.distribution,
                "version": i.version,
                "module": i.module,
                "hooks": list(i.hooks),
                "platforms": [descriptor_to_dict(d) for d in i.platforms],
                "errors": list(i.errors),
            }
            for i in infos
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if not infos:
        click.echo("no plugins installed")
    for info in infos:
        click.echo(f"{info.name}  {info.distribution or '-'} {info.version or ''}".rstrip())
        for desc in info.platforms:
            caps = ", ".join(sorted(desc.capabilities))
            click.echo(f"  {desc.name}: {desc.display_name} [{caps}]")
        for err in info.errors:
            click.echo(f"  error: {err}")


# --- tui ---------------------------------------------------------------------------------


@main.command()
@click.option("--url", default=None, help="Server URL (default CASHOUT_URL or http://127.0.0.1:8000).")
@click.option("--token", default=None, help="API token (default CASHOUT_TOKEN or the TUI config file).")
def tui(url: str | None, token: str | None) -> None:
    """Open the terminal client."""
    from cashout_tui.__main__ import run

    run(url=url, token=token)


if __name__ == "__main__":  # pragma: no cover
    main()

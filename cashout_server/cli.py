"""The ``cashout`` command: serve, migrate, users, tokens, keys, plugins, config, tui."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    from cashout_server.leader import AlreadyRunning, ProcessLock, sqlite_path

    database_file = sqlite_path(settings.database_url)
    # Held for the life of this process (the kernel drops it when the process ends, however it ends).
    process_lock = ProcessLock(database_file) if database_file is not None else None
    if process_lock is not None:
        try:
            process_lock.acquire()
        except AlreadyRunning as exc:
            raise click.ClickException(str(exc)) from None
    try:
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
        uvicorn.run(
            app, host=settings.server.host, port=settings.server.port, log_level=settings.server.log_level.lower()
        )
    finally:
        if process_lock is not None:
            process_lock.release()


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


# --- jobs, backup and restore ---------------------------------------------------------------


@main.group()
def jobs() -> None:
    """Scheduled jobs: what runs when, and running one now."""


def _ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = (when - datetime.now(UTC)).total_seconds()
    span = abs(seconds)
    text = f"{span:.0f}s" if span < 120 else f"{span / 60:.0f}m" if span < 7200 else f"{span / 3600:.1f}h"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@jobs.command("list")
def jobs_list() -> None:
    """List the jobs with their next run, last run and last failure, and who runs them."""
    from cashout_server.domain.jobs.services import job_statuses, leader

    async def go(runtime: Any) -> tuple[Any, Any]:
        async with runtime.session() as session:
            return await job_statuses(session, runtime), await leader(runtime)

    statuses, lease = _run(go)
    if lease is None or not lease.live:
        click.echo("leader: none (no server is running the jobs right now)")
    else:
        click.echo(f"leader: {lease.holder} since {lease.since:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"{'JOB':<28} {'EVERY':>8} {'NEXT':>12} {'LAST RUN':<24} LAST FAILURE")
    for s in statuses:
        every = f"{s.interval / 60:.0f}m" if s.interval else "on demand"
        last = f"{s.last_run.state} {_ago(s.last_run.finished_at or s.last_run.started_at)}" if s.last_run else "never"
        if s.running:
            last = "running now"
        failure = ""
        if s.last_failure is not None:
            failure = f"{_ago(s.last_failure.finished_at)}: {(s.last_failure.error or s.last_failure.state)[:60]}"
        click.echo(f"{s.spec.id:<28} {every:>8} {_ago(s.next_run_at):>12} {last:<24} {failure}")


@jobs.command("run")
@click.argument("job_id")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the run to finish.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait.")
def jobs_run(job_id: str, wait: bool, timeout: float) -> None:
    """Queue a run of JOB_ID now; the server holding the scheduler lease starts it within a second."""
    import time

    from cashout_server.db.models import JobRun
    from cashout_server.domain.jobs.services import UnknownJob, leader, request_run

    async def queue(runtime: Any) -> tuple[str, Any]:
        async with runtime.session() as session:
            run = await request_run(session, runtime, job_id, user_id=None)
        return run.public_id, await leader(runtime)

    try:
        run_id, lease = _run(queue)
    except UnknownJob:
        raise click.ClickException(f"no job {job_id!r}; `cashout jobs list` shows them") from None
    click.echo(f"queued {run_id}")
    if lease is None or not lease.live:
        click.echo("no server is running the jobs right now: the run starts when one does")
        return
    if not wait:
        return

    async def look(runtime: Any) -> JobRun | None:
        async with runtime.session() as session:
            found: JobRun | None = await session.scalar(select(JobRun).where(JobRun.public_id == run_id))
            return found

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(look)
        if run is not None and run.state not in ("queued", "running"):
            click.echo(f"{run.state}: {json.dumps(run.summary)}" + (f"\n{run.error}" if run.error else ""))
            if run.state != "ok":
                sys.exit(1)
            return
        time.sleep(0.5)
    raise click.ClickException(f"{run_id} has not finished after {timeout:.0f} s; see `cashout jobs list`")


@main.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive to write, or a folder for it (default: the backup folder in the data folder).",
)
def backup(output: Path | None) -> None:
    """Back up the database, photos and key file into one archive (safe while the server runs)."""
    from cashout_server.backup import BackupError, create_backup

    try:
        result = _run(lambda rt: create_backup(rt, output))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(result.counts.values())
    click.echo(f"backup written to {result.path} ({result.size / 1e6:.1f} MB, {rows} rows)")
    if result.has_key:
        click.echo(
            "It holds the encryption key of stored platform credentials: keep it as safe as the data folder "
            "(it is readable only by you)."
        )
    else:
        click.echo("The key comes from CASHOUT_SECRET_KEYS and is not in the archive: keep those keys with it.")


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(archive: Path, yes: bool) -> None:
    """Replace the database, photos and key file with those of ARCHIVE (stop the server first)."""
    from cashout_server.backup import BackupError, count_rows, describe, read_manifest, restore_backup

    settings = _settings()
    try:
        manifest = read_manifest(archive)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(manifest))
    if not yes:
        click.confirm(
            f"Replace the data of {settings.data_dir} with this backup? What is replaced is kept beside it "
            "as *.pre-restore-<time>",
            abort=True,
        )
    try:
        asyncio.run(restore_backup(settings, archive))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    expected = {k: int(v) for k, v in manifest.get("counts", {}).items()}
    counts = _run(lambda rt: count_rows(rt, expected), settings)
    differ = {k: (expected.get(k), counts.get(k)) for k in expected if counts.get(k) != expected.get(k)}
    if differ:
        raise click.ClickException(f"restored, but row counts differ from the backup's: {differ}")
    click.echo(f"restored: {sum(counts.values())} rows in {len(counts)} tables, equal to the backup's counts.")
    click.echo("Start the server (`cashout serve`); it applies any newer migrations first.")


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

"""The `cashout` command: config, users, tokens, keys, plugins, and refusing to start on bad keys."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select

from cashout_server.cli import main
from cashout_server.db.models import Connection
from cashout_server.runtime import build_runtime
from cashout_server.settings import load_settings


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("CASHOUT_DATA_DIR", str(data))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return data


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def test_config_show_masks_secrets(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHOUT_DATABASE_URL", "postgresql://app:hunter2pass@db.example/cashout")
    monkeypatch.setenv("CASHOUT_SECRET_KEYS", Fernet.generate_key().decode())
    code, out = run("config", "show")
    assert code == 0
    assert "CASHOUT_DATABASE_URL=********" in out and "CASHOUT_SECRET_KEYS=********" in out
    assert "hunter2pass" not in out and os.environ["CASHOUT_SECRET_KEYS"] not in out
    assert "CASHOUT_PORT=8000" in out and "# TCP port to listen on." in out


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("CASHOUT_PORT", "eighty", "CASHOUT_PORT"),
        ("CASHOUT_PORT", "70000", "CASHOUT_PORT"),
        ("CASHOUT_LOG_LEVEL", "LOUD", "CASHOUT_LOG_LEVEL"),
        ("CASHOUT_DATABASE_URL", "mysql://x", "CASHOUT_DATABASE_URL"),
        ("CASHOUT_PHOTOS_MAX_PIXELS", "-1", "CASHOUT_PHOTOS_MAX_PIXELS"),
    ],
)
def test_invalid_setting_exits_naming_the_key(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    code, out = run("config", "show")
    assert code != 0
    assert named in out and "invalid configuration" in out


def test_toml_file_is_read_and_env_wins(cli_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9123\nlog_level = "DEBUG"\n[photos]\nmax_pixels = "many"\n')
    monkeypatch.setenv("CASHOUT_CONFIG", str(path))
    code, out = run("config", "show")
    assert code != 0 and "[photos] max_pixels" in out
    path.write_text('[server]\nport = 9123\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("CASHOUT_LOG_LEVEL", "ERROR")
    code, out = run("config", "show")
    assert code == 0 and "CASHOUT_PORT=9123" in out and "CASHOUT_LOG_LEVEL=ERROR" in out


def test_users_and_tokens(cli_env: Path) -> None:
    code, out = run("user", "create", "Sam@Example.com", "--role", "admin")
    assert code == 0 and "created user usr_" in out
    code, out = run("user", "create", "sam@example.com")
    assert code != 0 and "already exists" in out
    code, token = run("token", "create", "--user", "sam@example.com", "--scope", "read", "--name", "script")
    assert code == 0 and token.strip().startswith("cashout_pat_")
    code, listing = run("token", "list")
    assert token.strip() not in listing and "sam@example.com" in listing and "read" in listing
    token_id = listing.split()[0]
    code, out = run("token", "revoke", token_id)
    assert code == 0 and "revoked" in out
    code, out = run("token", "list")
    assert "revoked" in out
    code, out = run("token", "create", "--user", "nobody@example.com")
    assert code != 0 and "no user" in out
    code, out = run("user", "create", "m@example.com", "--password", input="short\nshort\n")
    assert code != 0 and "12 characters" in out
    code, out = run(
        "user", "create", "p@example.com", "--password", input="correct horse battery\ncorrect horse battery\n"
    )
    assert code == 0 and "correct horse" not in out
    assert _password_hash("p@example.com").startswith("$argon2id$")


def _password_hash(email: str) -> str:
    from cashout_server.db.models import User
    from cashout_server.security.passwords import verify_password

    async def go() -> str:
        runtime = build_runtime(load_settings())
        async with runtime.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
        await runtime.close()
        assert user is not None and user.password_hash
        assert verify_password(user.password_hash, "correct horse battery")
        assert not verify_password(user.password_hash, "wrong")
        return user.password_hash

    return asyncio.run(go())


def test_plugins_list_json(cli_env: Path) -> None:
    code, out = run("plugins", "list", "--json")
    assert code == 0
    data = json.loads(out)
    craigslist = next(p for p in data if p["name"] == "craigslist")
    assert craigslist["distribution"] == "cashout-craigslist" and craigslist["version"]
    assert "publish" in craigslist["platforms"][0]["capabilities"]
    code, out = run("plugins", "list")
    assert "craigslist" in out and "Craigslist" in out


def _add_connection(secret: str) -> None:
    settings = load_settings()

    async def go() -> None:
        runtime = build_runtime(settings)
        async with runtime.session() as session:
            session.add(
                Connection(
                    public_id="con_TEST",
                    platform="craigslist",
                    name="x",
                    settings={},
                    credentials_encrypted=runtime.keyring.encrypt({"password": secret}),
                )
            )
            await session.commit()
        await runtime.close()

    asyncio.run(go())


def _stored_token() -> str:
    settings = load_settings()

    async def go() -> str:
        runtime = build_runtime(settings)
        async with runtime.session() as session:
            row = await session.scalar(select(Connection))
        await runtime.close()
        assert row is not None and row.credentials_encrypted
        return row.credentials_encrypted

    return asyncio.run(go())


def test_key_file_is_private_and_rotation_reencrypts(cli_env: Path) -> None:
    _add_connection("pw-123")
    key_file = cli_env / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o700, "the data folder is private"
    old_key = key_file.read_bytes().strip()
    before = _stored_token()
    code, out = run("keys", "rotate")
    assert code == 0 and "1 connection(s) re-encrypted" in out
    new_key = key_file.read_bytes().strip()
    assert new_key != old_key and b"\n" not in new_key, "old keys are retired"
    after = _stored_token()
    assert after != before
    assert Fernet(new_key).decrypt(after.encode()) == b'{"password": "pw-123"}'
    assert old_key.decode() not in out and new_key.decode() not in out


def test_serve_refuses_when_credentials_do_not_decrypt(cli_env: Path) -> None:
    _add_connection("pw-123")
    (cli_env / "secret.key").write_bytes(Fernet.generate_key() + b"\n")
    code, out = run("serve", "--port", "1")
    assert code != 0
    assert "do not decrypt" in out and "con_TEST" in out and "Refusing to start" in out


def test_allow_list_from_the_environment(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHOUT_PLUGINS", "someotherplugin")
    code, out = run("plugins", "list")
    assert code == 0 and out.strip() == "no plugins installed"
    monkeypatch.setenv("CASHOUT_PLUGINS", " craigslist , someotherplugin")
    code, out = run("plugins", "list")
    assert "craigslist" in out

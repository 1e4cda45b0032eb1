"""Settings: ``CASHOUT_*`` environment variables over an optional TOML file over defaults.

One class per concern; every field carries a docstring that ``cashout config show --help`` and
``docs/configuration.md`` repeat. The TOML file is ``$CASHOUT_CONFIG`` or ``cashout.toml`` in the
data folder, with one table per concern (``[server]``, ``[database]``, ...) using the field names.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the environment variable or TOML key."""


class _TomlTable(PydanticBaseSettingsSource):
    """Reads one table of the TOML config file; sits below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings], table: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._table = table

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._table.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._table.items() if k in self.settings_cls.model_fields}


class _Section(BaseSettings):
    """Base of every settings class: which TOML table it reads and how env vars are named."""

    table: ClassVar[str]
    _toml: ClassVar[dict[str, Any]] = {}

    model_config = SettingsConfigDict(env_prefix="CASHOUT_", extra="ignore", use_attribute_docstrings=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlTable(settings_cls, cls._toml.get(cls.table, {})))

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


class ServerSettings(_Section):
    """The HTTP server."""

    table = "server"

    host: str = "127.0.0.1"
    """Address to listen on. Keep 127.0.0.1 behind a reverse proxy; 0.0.0.0 exposes the API."""
    port: int = Field(default=8000, ge=1, le=65535)
    """TCP port to listen on."""
    data_dir: Path = Path("./data")
    """Folder for the SQLite database, photos, the encryption key and backups."""
    public_base_url: str | None = None
    """URL the server is reached at from outside (feeds, webhooks); defaults to http://host:port."""
    log_level: str = "INFO"
    """Logging level: DEBUG, INFO, WARNING or ERROR."""
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest accepted JSON request body, in bytes (photos have their own limit)."""

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def base_url(self) -> str:
        """The public base URL, or the listening address when none is set."""
        return self.public_base_url or f"http://{self.host}:{self.port}"


class DatabaseSettings(_Section):
    """The database."""

    table = "database"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_DATABASE_", extra="ignore", use_attribute_docstrings=True)

    url: SecretStr | None = None
    """SQLAlchemy URL; default is SQLite in the data folder. PostgreSQL: postgresql+asyncpg://user:pw@host/db."""
    echo: bool = False
    """Log every SQL statement (debugging only)."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """Connections kept open per process (PostgreSQL)."""

    @field_validator("url")
    @classmethod
    def _driver(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.startswith("postgresql://") or raw.startswith("postgres://"):
            raw = "postgresql+asyncpg://" + raw.split("://", 1)[1]
        if raw.startswith("sqlite://"):
            raw = "sqlite+aiosqlite://" + raw.split("://", 1)[1]
        if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return SecretStr(raw)


class SecuritySettings(_Section):
    """Encryption of stored platform credentials and API tokens."""

    table = "security"

    secret_keys: SecretStr | None = None
    """Comma-separated Fernet keys, newest first; default is the key file in the data folder."""
    token_ttl_days: int | None = Field(default=None, ge=1)
    """Default lifetime of new API tokens in days; unset means tokens do not expire."""


class PluginSettings(_Section):
    """Platform plugins."""

    table = "plugins"

    plugins: str | None = None
    """Comma-separated allow-list of plugin entry-point names to load; unset loads all installed."""
    trace_plugins: bool = False
    """Log every plugin hook call with its outcome and duration."""
    http_timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds a plugin's HTTP request may take before it times out."""


class PhotoSettings(_Section):
    """Photo uploads and derivatives."""

    table = "photos"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_PHOTOS_", extra="ignore", use_attribute_docstrings=True)

    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    """Largest accepted photo upload in bytes; larger uploads get 413 before the body is read."""
    max_pixels: int = Field(default=50_000_000, ge=10_000)
    """Largest accepted image in pixels (width x height): protection against decompression bombs."""
    display_max_edge: int = Field(default=2048, ge=64, le=10000)
    """Longest edge of the cleaned copy served for download."""


SECTIONS: tuple[type[_Section], ...] = (
    ServerSettings,
    DatabaseSettings,
    SecuritySettings,
    PluginSettings,
    PhotoSettings,
)


@dataclass(frozen=True)
class Settings:
    """All settings, one attribute per concern."""

    server: ServerSettings
    database: DatabaseSettings
    security: SecuritySettings
    plugins: PluginSettings
    photos: PhotoSettings
    config_file: Path | None = None

    @cached_property
    def data_dir(self) -> Path:
        """The data folder, absolute."""
        return self.server.data_dir.expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The effective SQLAlchemy URL (a secret: it may hold a password)."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / 'cashout.db'}"

    def sections(self) -> Iterator[_Section]:
        """Every settings object, in documentation order."""
        yield from (self.server, self.database, self.security, self.plugins, self.photos)


def _config_file(env: dict[str, str]) -> Path | None:
    explicit = env.get("CASHOUT_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"CASHOUT_CONFIG: no such file: {path}")
        return path
    data_dir = Path(env.get("CASHOUT_DATA_DIR", "./data")).expanduser()
    candidate = data_dir / "cashout.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: dict[str, Any]) -> Settings:
    """Load settings from the environment, the TOML file and defaults.

    Args:
        **overrides: per-section keyword values that win over everything (tests, embedding),
            e.g. ``load_settings(server={"data_dir": tmp})``.

    Raises:
        ConfigError: a value is invalid; the message names its environment variable or key.
    """
    env = dict(os.environ)
    path = _config_file(env)
    toml: dict[str, Any] = {}
    if path is not None:
        try:
            toml = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    built: dict[str, _Section] = {}
    for cls in SECTIONS:
        cls._toml = toml
        try:
            built[cls.table] = cls(**overrides.get(cls.table, {}))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "?"
            where = cls.env_name(field) if field in cls.model_fields else field
            if path is not None and field in toml.get(cls.table, {}) and cls.env_name(field) not in env:
                where = f"{path} [{cls.table}] {field}"
            raise ConfigError(f"{where}: {err['msg']}") from None
    return Settings(
        server=built["server"],  # type: ignore[arg-type]
        database=built["database"],  # type: ignore[arg-type]
        security=built["security"],  # type: ignore[arg-type]
        plugins=built["plugins"],  # type: ignore[arg-type]
        photos=built["photos"],  # type: ignore[arg-type]
        config_file=path,
    )


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """Rows of ``(environment variable, value with secrets masked, documentation)``."""
    rows: list[tuple[str, str, str]] = []
    for section in settings.sections():
        for name, info in type(section).model_fields.items():
            value = getattr(section, name)
            if isinstance(value, SecretStr):
                shown = "********" if value.get_secret_value() else ""
            elif value is None:
                shown = "(unset)"
            else:
                shown = str(value)
            rows.append((type(section).env_name(name), shown, info.description or ""))
    return rows

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
from typing import Any, ClassVar, Literal

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
    idempotency_ttl_hours: int = Field(default=24, ge=24, le=24 * 366)
    """Hours a POST answered under an Idempotency-Key is kept for replay (at least 24, at most a year)."""

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
    plugin_modules: str | None = None
    """Comma-separated importable modules to load as plugins besides the installed ones (a plugin in development)."""
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
    workers: int = Field(default=2, ge=1, le=64)
    """Worker processes that decode and resize photos (uploads, platform variants); about one per CPU core."""
    auto_enhance: bool = False
    """Auto-contrast and white-balance the photos prepared for platforms (originals are never changed)."""


class DeliverySettings(_Section):
    """The outbox worker that delivers publications, updates and delistings to platforms."""

    table = "delivery"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_DELIVERY_", extra="ignore", use_attribute_docstrings=True)

    worker: bool = True
    """Run a delivery worker in this server process (PostgreSQL: any number of replicas may)."""
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between looks for due deliveries when nothing wakes the worker sooner."""
    max_in_flight: int = Field(default=200, ge=1, le=5000)
    """Deliveries one worker runs at once, over all platforms (each platform also has its own limit)."""
    max_attempts: int = Field(default=8, ge=1, le=100)
    """Attempts before a delivery that keeps failing temporarily goes to the dead-letter state."""
    backoff_base: float = Field(default=2.0, gt=0, le=3600)
    """Seconds of the first retry's backoff ceiling; it doubles per attempt (full jitter)."""
    backoff_cap: float = Field(default=900.0, gt=0, le=86400)
    """Largest backoff ceiling in seconds."""
    lease_seconds: float = Field(default=60.0, ge=5, le=3600)
    """How long a claimed delivery stays claimed without renewal before another worker may recover it."""
    breaker_threshold: int = Field(default=5, ge=1, le=1000)
    """Consecutive failures of one platform that open its circuit breaker."""
    breaker_cooldown: float = Field(default=30.0, gt=0, le=3600)
    """Seconds an open breaker waits before letting one trial delivery through (doubles while it fails)."""
    pending_check_interval: float = Field(default=60.0, ge=1, le=86400)
    """Seconds before asking a platform again about a listing it has not decided on."""


class MailSettings(_Section):
    """Lead e-mail: the IMAP mailbox polled for buyer messages, and SMTP for replies to relays."""

    table = "mail"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_MAIL_", extra="ignore", use_attribute_docstrings=True)

    imap_host: str | None = None
    """IMAP server host; unset turns mail intake off."""
    imap_port: int = Field(default=993, ge=1, le=65535)
    """IMAP server port (993 for implicit TLS, 143 for STARTTLS or plain)."""
    imap_tls: Literal["tls", "starttls", "none"] = "tls"
    """How the IMAP connection is secured; ``none`` only for a server on this machine."""
    imap_user: str | None = None
    """IMAP login name."""
    imap_password: SecretStr | None = None
    """IMAP password or app password."""
    imap_folder: str = "INBOX"
    """Mailbox folder to read buyer mail from."""
    poll_interval: float = Field(default=120.0, ge=5, le=86400)
    """Seconds between looks at the mailbox."""
    smtp_host: str | None = None
    """SMTP server host for replies sent by e-mail (Craigslist relays); unset means such replies wait for a person."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    """SMTP server port (465 implicit TLS, 587 STARTTLS)."""
    smtp_tls: Literal["tls", "starttls", "none"] = "starttls"
    """How the SMTP connection is secured; ``none`` only for a server on this machine."""
    smtp_user: str | None = None
    """SMTP login name (defaults to no login)."""
    smtp_password: SecretStr | None = None
    """SMTP password or app password."""
    from_address: str | None = None
    """The seller's address replies are sent from (defaults to the IMAP user)."""
    timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds an IMAP or SMTP operation may take."""


class AISettings(_Section):
    """The OpenAI-compatible model that drafts replies and listing copy (templates when unset)."""

    table = "ai"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_AI_", extra="ignore", use_attribute_docstrings=True)

    base_url: str | None = None
    """Endpoint base URL, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``; unset uses templates."""
    model: str | None = None
    """Model name sent with each request."""
    api_key: SecretStr | None = None
    """API key (local servers usually ignore it)."""
    timeout: float = Field(default=20.0, gt=0, le=600)
    """Seconds a generation may take before the template answer is used."""
    allow_private_network: bool = False
    """Allow a base URL on a private or loopback address (a LAN model server)."""
    tone: str = "friendly, brief and honest"
    """How the seller wants to sound in replies and listing copy."""
    temperature: float = Field(default=0.4, ge=0, le=2)
    """Sampling temperature."""


class StripeSettings(_Section):
    """Stripe payment links, Checkout Sessions and the signed webhook."""

    table = "stripe"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_STRIPE_", extra="ignore", use_attribute_docstrings=True)

    secret_key: SecretStr | None = None
    """Stripe secret API key (``sk_...`` or a restricted ``rk_...``); unset turns payments off."""
    webhook_secret: SecretStr | None = None
    """Signing secret of the webhook endpoint (``whsec_...``)."""
    api_base: str = "https://api.stripe.com"
    """Stripe API base URL (a test server in tests)."""
    webhook_tolerance: int = Field(default=300, ge=1, le=86400)
    """Seconds an event's signed timestamp may lie in the past (or in the future) before it is refused."""
    success_url: str | None = None
    """Where buyers land after paying (defaults to the server's public URL)."""


class LeadSettings(_Section):
    """The inbox: lead fetching, auto-replies and negotiation defaults."""

    table = "leads"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_LEADS_", extra="ignore", use_attribute_docstrings=True)

    auto_reply: bool = True
    """Send confident, safe answers (availability, fixed facts) without asking; everything else waits for approval."""
    auto_reply_confidence: float = Field(default=0.8, ge=0, le=1)
    """Lowest classification confidence at which a reply may go out by itself."""
    burst_window: float = Field(default=120.0, ge=0, le=3600)
    """Seconds in which several messages from one buyer are answered once."""
    fetch_interval: float = Field(default=300.0, ge=30, le=86400)
    """Default seconds between lead fetches per account (the plugin descriptor or connection may override)."""


class SchedulerSettings(_Section):
    """The job scheduler, its leadership lease and backups."""

    table = "scheduler"
    model_config = SettingsConfigDict(env_prefix="CASHOUT_SCHEDULER_", extra="ignore", use_attribute_docstrings=True)

    enabled: bool = True
    """Take part in running scheduled jobs (only the lease holder runs them)."""
    lease_seconds: float = Field(default=30.0, ge=2, le=3600)
    """How long a leader's lease lasts without renewal; another process takes over after it runs out."""
    misfire_grace: float = Field(default=3600.0, ge=1, le=604800)
    """Seconds late a missed run may still start; older misses are coalesced into one run."""
    backup_dir: Path | None = None
    """Where scheduled backups go (default: ``backups`` in the data folder)."""
    backup_interval_hours: float = Field(default=24.0, ge=0, le=8760)
    """Hours between scheduled backups; 0 turns them off."""
    backup_keep: int = Field(default=7, ge=1, le=1000)
    """Backups kept; older ones are deleted."""


SECTIONS: tuple[type[_Section], ...] = (
    ServerSettings,
    DatabaseSettings,
    SecuritySettings,
    PluginSettings,
    PhotoSettings,
    DeliverySettings,
    MailSettings,
    AISettings,
    StripeSettings,
    LeadSettings,
    SchedulerSettings,
)


@dataclass(frozen=True)
class Settings:
    """All settings, one attribute per concern."""

    server: ServerSettings
    database: DatabaseSettings
    security: SecuritySettings
    plugins: PluginSettings
    photos: PhotoSettings
    delivery: DeliverySettings
    mail: MailSettings
    ai: AISettings
    stripe: StripeSettings
    leads: LeadSettings
    scheduler: SchedulerSettings
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
        yield from (
            self.server,
            self.database,
            self.security,
            self.plugins,
            self.photos,
            self.delivery,
            self.mail,
            self.ai,
            self.stripe,
            self.leads,
            self.scheduler,
        )


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
        delivery=built["delivery"],  # type: ignore[arg-type]
        mail=built["mail"],  # type: ignore[arg-type]
        ai=built["ai"],  # type: ignore[arg-type]
        stripe=built["stripe"],  # type: ignore[arg-type]
        leads=built["leads"],  # type: ignore[arg-type]
        scheduler=built["scheduler"],  # type: ignore[arg-type]
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

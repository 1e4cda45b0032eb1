"""Where the TUI finds its server and token.

Each setting comes from the first place that has it:

1. the arguments (``cashout tui --url ... --token ...``);
2. the environment: ``CASHOUT_URL`` and ``CASHOUT_TOKEN``;
3. a TOML file with keys ``url`` and ``token``: ``$CASHOUT_TUI_CONFIG`` or ``~/.config/cashout/tui.toml``;
4. for the URL only, ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_URL", "ConfigError", "TuiConfig", "default_config_path", "load_config"]

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "CASHOUT_URL"
TOKEN_ENV = "CASHOUT_TOKEN"  # noqa: S105 - the variable's name, not a secret
CONFIG_ENV = "CASHOUT_TUI_CONFIG"


class ConfigError(Exception):
    """The configuration is missing something or cannot be read; the message says what to do."""


@dataclass(frozen=True)
class TuiConfig:
    """The resolved settings.

    Attributes:
        url: the server's base URL.
        token: the API token (never shown in ``repr``).
        source: where each setting came from, e.g. ``{"url": "default", "token": "env"}``.
    """

    url: str
    token: str = field(repr=False)
    source: Mapping[str, str] = field(default_factory=dict)


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: ``$CASHOUT_TUI_CONFIG`` or ``~/.config/cashout/tui.toml``.

    Args:
        env: the environment (default ``os.environ``).

    Returns:
        The path (which may not exist).
    """
    env = os.environ if env is None else env
    explicit = env.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".config" / "cashout" / "tui.toml"


def _read_file(path: Path, *, required: bool) -> dict[str, str]:
    if not path.is_file():
        if required:
            raise ConfigError(f"the config file {path} (from ${CONFIG_ENV}) does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    out: dict[str, str] = {}
    for key in ("url", "token"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"in {path}, '{key}' must be a string")
        if value.strip():
            out[key] = value.strip()
    return out


def load_config(
    url: str | None = None,
    token: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> TuiConfig:
    """Resolve the server URL and token: arguments, then environment, then file, then default.

    Args:
        url: the server URL given on the command line.
        token: the API token given on the command line.
        env: the environment (default ``os.environ``).
        config_path: the TOML file to read (default :func:`default_config_path`).

    Returns:
        The settings.

    Raises:
        ConfigError: no token anywhere, an unusable URL, or an unreadable config file.
    """
    env = os.environ if env is None else env
    path = config_path or default_config_path(env)
    from_file = _read_file(path, required=config_path is None and bool(env.get(CONFIG_ENV)))
    source: dict[str, str] = {}

    def pick(name: str, arg: str | None, env_name: str) -> str | None:
        if arg and arg.strip():
            source[name] = "argument"
            return arg.strip()
        if env.get(env_name, "").strip():
            source[name] = f"${env_name}"
            return env[env_name].strip()
        if name in from_file:
            source[name] = str(path)
            return from_file[name]
        return None

    resolved_url = pick("url", url, URL_ENV)
    if resolved_url is None:
        source["url"] = "default"
        resolved_url = DEFAULT_URL
    if not resolved_url.startswith(("http://", "https://")):
        raise ConfigError(f"the server URL must start with http:// or https://, got {resolved_url!r}")
    resolved_token = pick("token", token, TOKEN_ENV)
    if resolved_token is None:
        raise ConfigError(
            'no API token: pass --token, set $CASHOUT_TOKEN, or put token = "..." in '
            f"{path} (create one with 'cashout token create' or POST /api/v1/tokens)"
        )
    return TuiConfig(url=resolved_url.rstrip("/"), token=resolved_token, source=source)

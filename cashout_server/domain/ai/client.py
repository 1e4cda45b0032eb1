"""Talking to an OpenAI-compatible chat endpoint, and refusing base URLs that point inwards.

:class:`ChatModel` wraps the ``openai`` client: streaming first (so an answer running past its
length limit is cut off early), plain requests for servers without streaming. Every failure comes
out as :class:`ModelError` with a short reason fit for logs: never the server's message, which can
quote part of the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI

__all__ = ["AIConfigError", "ChatModel", "ModelError", "check_base_url", "check_resolved_host"]

log = logging.getLogger("cashout.ai")

_ENV = "CASHOUT_AI_BASE_URL"
_RESOLVE_WAIT = 3.0


class AIConfigError(ValueError):
    """The AI settings cannot be used (the message names the setting to change)."""


class ModelError(Exception):
    """The model gave no usable answer; ``reason`` is safe to log and store."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refused_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # ``is_global`` is false for private, loopback, link-local, reserved, shared (CGNAT) and
    # documentation ranges alike; multicast is global but is never a model server.
    return not ip.is_global or ip.is_multicast


def _split(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https"):
        raise AIConfigError(f"{_ENV} must be an http:// or https:// URL (got scheme {parts.scheme or 'none'!r})")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise AIConfigError(f"{_ENV} has an invalid port") from exc
    if not host:
        raise AIConfigError(f"{_ENV} has no host name")
    return host, port or (443 if parts.scheme == "https" else 80)


def _private_error(host: str) -> AIConfigError:
    return AIConfigError(
        f"{_ENV} points at a private, loopback, link-local or reserved address ({host}); set "
        "CASHOUT_AI_ALLOW_PRIVATE_NETWORK=true if the model server really is on your own network"
    )


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos]


def check_base_url(base_url: str, *, allow_private_network: bool) -> None:
    """Refuse a base URL that is not http(s) or that reaches a private address.

    Literal IPs are checked directly; names are resolved with ``socket.getaddrinfo`` in a thread
    (bounded wait; a name that does not resolve yet is checked again before each request by
    :func:`check_resolved_host`).

    Args:
        base_url: the configured ``CASHOUT_AI_BASE_URL``.
        allow_private_network: accept private and loopback hosts (a model server on the LAN).

    Raises:
        AIConfigError: naming ``CASHOUT_AI_BASE_URL`` and what is wrong with it.
    """
    host, port = _split(base_url)
    if allow_private_network:
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        if _refused_address(host):
            raise _private_error(host)
        return
    found: list[list[str]] = []

    def resolve() -> None:
        with contextlib.suppress(OSError):
            found.append(_addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))

    worker = threading.Thread(target=resolve, name="cashout-ai-resolve", daemon=True)
    worker.start()
    worker.join(_RESOLVE_WAIT)
    if found and any(_refused_address(a) for a in found[0]):
        raise _private_error(host)


async def check_resolved_host(base_url: str, *, allow_private_network: bool) -> None:
    """Resolve the base URL's host again (in a thread) and refuse it if it now points inwards.

    Raises:
        AIConfigError: the host resolves to a private, loopback, link-local or reserved address.
    """
    if allow_private_network:
        return
    host, port = _split(base_url)
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # unresolvable: the request itself will fail and the template is used
    if any(_refused_address(a) for a in _addresses(infos)):
        raise _private_error(host)


def _status_reason(exc: openai.APIStatusError) -> str:
    code = exc.code if isinstance(exc.code, str) else None
    return f"HTTP {exc.status_code}" + (f" {code}" if code else "")


def _says_stream_unsupported(exc: openai.APIStatusError) -> bool:
    if not (400 <= exc.status_code < 500 or exc.status_code == 501) or exc.status_code in (401, 403, 429):
        return False
    message = f"{exc.message} {exc.body if isinstance(exc.body, dict | str) else ''}".lower()
    return "stream" in message or "not supported" in message or "unsupported" in message


class ChatModel:
    """One model behind an OpenAI-compatible endpoint.

    Args:
        client: an ``AsyncOpenAI`` built with ``max_retries=0`` (the caller owns the deadline).
        model: the model name.
        temperature: sampling temperature.
        stream: try streaming first (turned off for good once the server says it cannot stream).
    """

    def __init__(self, client: AsyncOpenAI, *, model: str, temperature: float, stream: bool = True) -> None:
        self._client = client
        self._model = model
        self._temperature = temperature
        self.stream = stream

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def complete(self, messages: Sequence[dict[str, str]], *, stop_after: int) -> str:
        """One answer to ``messages``.

        Args:
            messages: the chat messages.
            stop_after: characters after which a streamed answer is cut off (it is too long to use;
                the text returned is then longer than this and fails the length check).

        Returns:
            The answer's text (possibly empty of meaning, never ``None``).

        Raises:
            ModelError: on any transport or API error, a refusal, an empty or malformed answer.
        """
        try:
            if self.stream:
                try:
                    return await self._streamed(messages, stop_after)
                except openai.APIStatusError as exc:
                    if not _says_stream_unsupported(exc):
                        raise
                    log.info("the model server does not stream (%s); using plain requests", _status_reason(exc))
                    self.stream = False
            return await self._plain(messages)
        except ModelError:
            raise
        except openai.APITimeoutError as exc:
            raise ModelError("timeout") from exc
        except openai.APIStatusError as exc:
            raise ModelError(_status_reason(exc)) from exc
        except openai.APIConnectionError as exc:
            raise ModelError("connection failed") from exc
        except (json.JSONDecodeError, openai.APIResponseValidationError, ValueError, TypeError, KeyError) as exc:
            raise ModelError("malformed answer") from exc
        except openai.OpenAIError as exc:
            raise ModelError(f"model error {type(exc).__name__}") from exc

    def _params(self, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
        return {"model": self._model, "messages": list(messages), "temperature": self._temperature}

    async def _plain(self, messages: Sequence[dict[str, str]]) -> str:
        completion = await self._client.chat.completions.create(**self._params(messages))
        if not completion.choices:
            raise ModelError("malformed answer")
        message = completion.choices[0].message
        if message.refusal:
            raise ModelError("refusal")
        content: str | None = message.content
        if not content or not content.strip():
            raise ModelError("empty answer")
        return content

    async def _streamed(self, messages: Sequence[dict[str, str]], stop_after: int) -> str:
        parts: list[str] = []
        size = 0
        refused = False
        stream = await self._client.chat.completions.create(**self._params(messages), stream=True)
        async with stream:
            async for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.refusal:
                    refused = True
                if delta.content:
                    parts.append(delta.content)
                    size += len(delta.content)
                    if size > stop_after:
                        break  # leaving the block closes the response: the rest is never read
        if refused:
            raise ModelError("refusal")
        text = "".join(parts)
        if not text.strip():
            raise ModelError("empty answer")
        return text

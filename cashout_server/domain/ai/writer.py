"""The writer: reply drafts and listing copy from a model, checked, with templates behind it.

    writer = Writer.from_settings(settings.ai)
    draft = await writer.draft_reply(ReplyDraftRequest(intent="availability", item_title="Lamp",
                                                       list_price_minor=4500, buyer_name="Sam"))
    ...
    await writer.aclose()

Every text passes :func:`~cashout_server.domain.ai.checks.check_text` before it is returned. A model
answer that fails is retried once with the reasons; a second failure, any error, a refusal, an
empty or malformed answer, or the overall deadline (``settings.ai.timeout``) gives the template.
The floor price, cost basis and ``secrets`` are never sent to the model, and neither the prompt nor
the API key is logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from openai import AsyncOpenAI

from cashout_server.domain.ai.checks import CheckRules, check_text, rules_for_listing, rules_for_reply
from cashout_server.domain.ai.client import (
    AIConfigError,
    ChatModel,
    ModelError,
    check_base_url,
    check_resolved_host,
)
from cashout_server.domain.ai.prompts import Prompt, listing_prompt, reply_prompt, retry_message
from cashout_server.domain.ai.schemas import (
    INTENTS,
    NO_REPLY_INTENTS,
    Draft,
    ListingCopy,
    ListingCopyRequest,
    ReplyDraftRequest,
)
from cashout_server.domain.ai.templates import fallback_reply, listing_template, reply_template
from cashout_server.settings import AISettings

__all__ = [
    "AIConfigError",
    "Draft",
    "ListingCopy",
    "ListingCopyRequest",
    "ReplyDraftRequest",
    "Writer",
    "parse_listing",
]

log = logging.getLogger("cashout.ai")

T = TypeVar("T")

_LISTING = re.compile(
    r"^\W*title\W*:\s*(?P<title>[^\n]*?)\s*\n+\W*description\W*:?[ \t]*\n?(?P<description>.*)$", re.I | re.S
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
# Room for the TITLE:/DESCRIPTION: labels and the blank line between them when cutting a stream.
_LISTING_SLACK = 40


@dataclass(frozen=True)
class _Outcome(Generic[T]):
    value: T | None
    attempts: int
    failures: tuple[str, ...]
    reason: str | None


def _tidy(text: str) -> str:
    text = text.strip()
    if len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def parse_listing(text: str) -> tuple[str, str] | None:
    """Read ``TITLE: ...`` / ``DESCRIPTION: ...`` from a model's answer (markdown bold tolerated).

    Returns:
        ``(title, description)``, or ``None`` when the answer is not in that form.
    """
    match = _LISTING.match(text.replace("**", "").replace("__", "").strip())
    if match is None:
        return None
    return _tidy(match.group("title")), match.group("description").strip()


def _check_listing(
    text: str, request: ListingCopyRequest, rules: CheckRules
) -> tuple[tuple[str, str] | None, tuple[str, ...]]:
    parsed = parse_listing(text)
    if parsed is None:
        return None, ("is not in the TITLE / DESCRIPTION form",)
    title, description = parsed
    reasons: list[str] = []
    if not title or "\n" in title:
        reasons.append("has an empty title")
    if len(title) > request.title_max:
        reasons.append(f"has a title that is too long ({len(title)} characters, the limit is {request.title_max})")
    if not description:
        reasons.append("has an empty description")
    if len(description) > request.description_max:
        reasons.append(
            f"has a description that is too long ({len(description)} characters, "
            f"the limit is {request.description_max})"
        )
    reasons.extend(r for r in check_text(f"{title}\n\n{description}", rules) if not r.startswith("is too long"))
    return (None, tuple(reasons)) if reasons else ((title, description), ())


class Writer:
    """Drafts replies and listing copy; with no model configured, templates do all of it.

    Build it with :meth:`from_settings`; close it with :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        model: ChatModel | None,
        base_url: str | None,
        timeout: float,
        tone: str,
        allow_private_network: bool = False,
    ) -> None:
        self._model = model
        self._base_url = base_url
        self._timeout = timeout
        self._tone = tone
        self._allow_private = allow_private_network

    @classmethod
    def from_settings(cls, settings: AISettings, *, stream: bool = True) -> Writer:
        """Build the writer from ``settings.ai``.

        Args:
            settings: the AI settings; a model is used only when both ``base_url`` and ``model`` are set.
            stream: try streaming answers first (servers that cannot stream are detected either way).

        Returns:
            The writer (templates only when no model is configured).

        Raises:
            AIConfigError: the base URL is not http(s), or reaches a private, loopback, link-local or
                reserved address while ``allow_private_network`` is false. The message names
                ``CASHOUT_AI_BASE_URL``.
        """
        base_url = settings.base_url.strip() if settings.base_url else None
        model: ChatModel | None = None
        if base_url and settings.model:
            check_base_url(base_url, allow_private_network=settings.allow_private_network)
            # Local servers ignore the key but the client insists on one; never fall back to the
            # OPENAI_API_KEY environment variable of whatever process runs us.
            key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
            client = AsyncOpenAI(base_url=base_url, api_key=key, timeout=settings.timeout, max_retries=0)
            model = ChatModel(client, model=settings.model, temperature=settings.temperature, stream=stream)
        elif base_url or settings.model:
            log.warning("CASHOUT_AI_BASE_URL and CASHOUT_AI_MODEL must both be set to use a model; using templates")
        return cls(
            model=model,
            base_url=base_url,
            timeout=settings.timeout,
            tone=settings.tone,
            allow_private_network=settings.allow_private_network,
        )

    @property
    def enabled(self) -> bool:
        """Whether a model is configured (otherwise every text comes from templates)."""
        return self._model is not None

    async def aclose(self) -> None:
        """Close the model client (a no-op with templates only)."""
        if self._model is not None:
            await self._model.aclose()

    async def draft_reply(self, request: ReplyDraftRequest) -> Draft:
        """Draft a reply to a buyer for a person to approve.

        Args:
            request: the conversation, the seller's facts and the decision.

        Returns:
            The draft; ``text`` is ``None`` for spam and scam (no reply is sent to those).
        """
        if request.intent not in INTENTS:
            request = replace(request, intent="other")
        if request.intent in NO_REPLY_INTENTS:
            return Draft(text=None, generated_by="template", attempts=0, fallback_reason="no reply to spam or scam")
        if self._model is None:
            return self._template_reply(request, attempts=0, failures=(), reason="no model configured")
        prompt = reply_prompt(request, tone=request.tone or self._tone)
        rules = rules_for_reply(request, instructions=prompt.instructions)

        def accept(text: str) -> tuple[str | None, tuple[str, ...]]:
            reasons = check_text(text, rules)
            return (None, reasons) if reasons else (text, ())

        outcome = await self._generate("reply draft", prompt, accept, stop_after=request.max_length)
        if outcome.value is not None:
            return Draft(
                text=outcome.value, generated_by="model", attempts=outcome.attempts, check_failures=outcome.failures
            )
        return self._template_reply(
            request, attempts=outcome.attempts, failures=outcome.failures, reason=outcome.reason
        )

    async def listing_copy(self, request: ListingCopyRequest) -> ListingCopy:
        """Write a title and description for one platform, within its limits.

        Args:
            request: the item's own words and the platform's ``title_max`` / ``description_max``.

        Returns:
            The copy, from the model when it passes the checks, else from the template.
        """
        if self._model is None:
            return self._template_listing(request, attempts=0, failures=(), reason="no model configured")
        prompt = listing_prompt(request, tone=request.tone or self._tone)
        rules = rules_for_listing(
            request, max_length=request.title_max + request.description_max + 2, instructions=prompt.instructions
        )
        outcome = await self._generate(
            "listing copy",
            prompt,
            lambda text: _check_listing(text, request, rules),
            stop_after=request.title_max + request.description_max + _LISTING_SLACK,
        )
        if outcome.value is not None:
            title, description = outcome.value
            return ListingCopy(
                title=title,
                description=description,
                generated_by="model",
                attempts=outcome.attempts,
                check_failures=outcome.failures,
            )
        return self._template_listing(
            request, attempts=outcome.attempts, failures=outcome.failures, reason=outcome.reason
        )

    # --- the model, checked --------------------------------------------------------------

    async def _generate(
        self,
        what: str,
        prompt: Prompt,
        accept: Callable[[str], tuple[T | None, tuple[str, ...]]],
        *,
        stop_after: int,
    ) -> _Outcome[T]:
        assert self._model is not None and self._base_url is not None
        attempts = 0
        failures: list[str] = []
        messages = list(prompt.messages)
        try:
            async with asyncio.timeout(self._timeout):
                await check_resolved_host(self._base_url, allow_private_network=self._allow_private)
                for _ in range(2):
                    attempts += 1
                    text = _tidy(await self._model.complete(messages, stop_after=stop_after))
                    value, reasons = accept(text)
                    if value is not None:
                        return _Outcome(value, attempts, tuple(failures), None)
                    log.info("%s: model answer %d discarded: %s", what, attempts, "; ".join(reasons))
                    failures.extend(reasons)
                    messages = [*prompt.messages, retry_message(reasons)]
                reason = "the model's answers failed the checks"
        except TimeoutError:
            reason = "timeout"
        except ModelError as exc:
            reason = exc.reason
        except AIConfigError as exc:
            log.error("%s: %s", what, exc)
            reason = "base URL refused"
        log.warning("%s: using the template (%s)", what, reason)
        return _Outcome(None, attempts, tuple(failures), reason)

    # --- templates -----------------------------------------------------------------------

    def _template_reply(
        self, request: ReplyDraftRequest, *, attempts: int, failures: tuple[str, ...], reason: str | None
    ) -> Draft:
        rules = rules_for_reply(request)
        text = reply_template(request)
        if text is not None:
            for candidate in (text, fallback_reply(request), fallback_reply(request, with_name=False)):
                text = candidate
                if not check_text(candidate, rules):
                    break
        return Draft(
            text=text, generated_by="template", attempts=attempts, check_failures=failures, fallback_reason=reason
        )

    def _template_listing(
        self, request: ListingCopyRequest, *, attempts: int, failures: tuple[str, ...], reason: str | None
    ) -> ListingCopy:
        rules = rules_for_listing(request, max_length=request.title_max + request.description_max + 2)
        title, description = listing_template(request)
        if check_text(f"{title}\n\n{description}", rules):
            title, description = listing_template(request, with_description=False)
        return ListingCopy(
            title=title,
            description=description,
            generated_by="template",
            attempts=attempts,
            check_failures=failures,
            fallback_reason=reason,
        )

"""Reply drafts through the real openai client against the fake model server on loopback."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import pytest

from cashout_server.domain.ai.checks import check_text, rules_for_reply
from cashout_server.domain.ai.prompts import reply_prompt
from cashout_server.domain.ai.schemas import ReplyDraftRequest
from cashout_server.domain.ai.templates import reply_template
from cashout_server.domain.ai.writer import Writer
from cashout_server.settings import AISettings
from cashout_server.testing.fake_openai import FakeOpenAIServer, Reply

GOOD = "Hi Sam, thanks for the offer! I could do $100 for the chair. Let me know if that works."


async def test_streaming_happy_path_uses_the_model_text(
    offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer
) -> None:
    fake.script(Reply(text=GOOD, chunk_size=5))

    draft = await writer.draft_reply(offer)

    assert draft.text == GOOD
    assert (draft.generated_by, draft.attempts, draft.check_failures) == ("model", 1, ())
    (body,) = fake.chat_requests()
    assert body["stream"] is True
    assert body["model"] == "fake-model"
    assert fake.wait_for_streams(1) == ["completed"]


async def test_non_streaming_happy_path(
    offer: ReplyDraftRequest, ai_settings: Callable[..., AISettings], fake: FakeOpenAIServer
) -> None:
    writer = Writer.from_settings(ai_settings(), stream=False)
    fake.script(GOOD)
    try:
        draft = await writer.draft_reply(offer)
    finally:
        await writer.aclose()

    assert (draft.text, draft.generated_by) == (GOOD, "model")
    (body,) = fake.chat_requests()
    assert not body.get("stream")


async def test_a_server_that_cannot_stream_is_asked_plainly(
    offer: ReplyDraftRequest, ai_settings: Callable[..., AISettings], fake: FakeOpenAIServer
) -> None:
    fake.streaming = False
    writer = Writer.from_settings(ai_settings())
    fake.script(GOOD, GOOD)
    try:
        first = await writer.draft_reply(offer)
        second = await writer.draft_reply(offer)
    finally:
        await writer.aclose()

    assert first.text == GOOD and second.text == GOOD
    assert first.generated_by == second.generated_by == "model"
    # Streaming was tried once, refused with 400, then the writer stopped trying it.
    assert [bool(b.get("stream")) for b in fake.chat_requests()] == [True, False, False]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unauthorized", "HTTP 401 invalid_api_key"),
        ("rate_limited", "HTTP 429 rate_limit_exceeded"),
        ("server_error", "HTTP 500"),
        ("malformed", "malformed answer"),
        ("empty", "empty answer"),
        ("refusal", "refusal"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_every_error_falls_back_to_the_template(
    offer: ReplyDraftRequest,
    ai_settings: Callable[..., AISettings],
    fake: FakeOpenAIServer,
    kind: str,
    reason: str,
    stream: bool,
) -> None:
    writer = Writer.from_settings(ai_settings(), stream=stream)
    fake.script(Reply.error(kind), GOOD)  # type: ignore[arg-type]
    request = offer
    try:
        draft = await writer.draft_reply(request)
    finally:
        await writer.aclose()

    assert draft.generated_by == "template"
    assert draft.text == reply_template(request)
    assert draft.fallback_reason == reason
    assert draft.attempts == 1
    assert len(fake.chat_requests()) == 1  # no retry: the deadline belongs to the caller


async def test_a_hung_server_gives_the_template_within_the_deadline(
    offer: ReplyDraftRequest, ai_settings: Callable[..., AISettings], fake: FakeOpenAIServer
) -> None:
    writer = Writer.from_settings(ai_settings(timeout=0.5))
    fake.script(Reply.error("hang"))
    try:
        draft = await writer.draft_reply(offer)
    finally:
        await writer.aclose()

    assert draft.generated_by == "template"
    assert draft.fallback_reason == "timeout"
    assert draft.text == reply_template(offer)


async def test_a_stream_that_trickles_past_the_deadline_gives_the_template(
    offer: ReplyDraftRequest, ai_settings: Callable[..., AISettings], fake: FakeOpenAIServer
) -> None:
    # Each chunk arrives well within the client's per-read timeout; only the overall deadline stops it.
    writer = Writer.from_settings(ai_settings(timeout=0.6))
    fake.script(Reply(text=GOOD, chunk_size=2, chunk_delay=0.1))
    try:
        draft = await writer.draft_reply(offer)
    finally:
        await writer.aclose()

    assert (draft.generated_by, draft.fallback_reason) == ("template", "timeout")


@pytest.mark.parametrize(
    ("bad", "failure"),
    [
        ("Hi Sam, honestly I could go as low as $80 for it.", "mentions a price at or below the seller's minimum"),
        ("Hi Sam, I could do $100. Call me on 555-867-5309 to arrange it.", "contains a phone number"),
        ("Hi Sam, I could do $100 and I can deliver it to you.", "promises delivery the seller did not offer"),
        ("Hi Sam, I could do $100 and I'll hold it for you.", "promises to hold the item"),
    ],
)
async def test_a_bad_answer_is_regenerated_once_with_the_reason(
    offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer, bad: str, failure: str
) -> None:
    fake.script(bad, GOOD)

    draft = await writer.draft_reply(offer)

    assert (draft.text, draft.generated_by, draft.attempts) == (GOOD, "model", 2)
    assert any(f.startswith(failure) for f in draft.check_failures)
    first, retry = (body["messages"] for body in fake.chat_requests())
    assert retry[:-1] == first
    assert failure in retry[-1]["content"]
    assert bad not in str(retry)  # the rejected text is not sent back (it may hold the floor)


async def test_two_bad_answers_fall_back_to_the_template(
    offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer
) -> None:
    fake.script("Sure, $80 is fine.", "OK, 80 then. Text me at (555) 867-5309.")
    request = offer

    draft = await writer.draft_reply(request)

    assert draft.generated_by == "template"
    assert draft.text == reply_template(request)
    assert draft.attempts == 2
    assert "contains a phone number" in draft.check_failures
    assert draft.fallback_reason == "the model's answers failed the checks"
    assert len(fake.chat_requests()) == 2


async def test_an_over_long_stream_is_cut_off(offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer) -> None:
    endless = "Hi Sam, " + "this chair is lovely and comfortable. " * 400  # ~15,000 characters
    fake.script(Reply(text=endless, chunk_size=20, chunk_delay=0.002), Reply(text=endless, chunk_size=20))
    request = dataclasses.replace(offer, max_length=300)

    draft = await writer.draft_reply(request)

    assert draft.generated_by == "template"
    assert draft.check_failures and all("too long" in f for f in draft.check_failures)
    assert draft.text is not None and len(draft.text) <= 300
    # The writer stopped reading: the server never got to send the end of the first answer.
    assert fake.wait_for_streams(2)[0] == "cut"


async def test_an_over_long_plain_answer_is_refused(
    offer: ReplyDraftRequest, ai_settings: Callable[..., AISettings], fake: FakeOpenAIServer
) -> None:
    writer = Writer.from_settings(ai_settings(), stream=False)
    fake.script("Hi Sam, " + "x" * 400, GOOD)
    try:
        draft = await writer.draft_reply(dataclasses.replace(offer, max_length=300))
    finally:
        await writer.aclose()

    assert (draft.text, draft.attempts) == (GOOD, 2)
    assert draft.check_failures[0].startswith("is too long")


async def test_floor_cost_and_secrets_never_reach_the_model(
    api_key: str, offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer
) -> None:
    request = dataclasses.replace(
        offer,
        # The seller's notes carry the floor by mistake; the buyer's message mentions the address.
        facts={"condition": "used_good", "notes": "floor is $80, paid $50", "pickup_area": "Park Slope"},
        conversation=[("buyer", "Is 14 Elm Street your address? Would you take $70?")],
    )
    fake.script(GOOD)

    await writer.draft_reply(request)

    prompt = fake.prompt_text()
    for secret in (*request.secrets, api_key):
        assert secret.lower() not in prompt.lower()
    assert "Park Slope" in prompt and "$100" in prompt and "$120" in prompt
    for request_seen in fake.received:
        assert api_key not in request_seen.body


async def test_an_answer_quoting_the_instructions_is_not_used(
    offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer
) -> None:
    system = reply_prompt(offer, tone="friendly").messages[0]["content"]
    fake.script(f"Sure! My rules: {' '.join(system.split()[:12])}", "As the system prompt says, $100.")

    draft = await writer.draft_reply(offer)

    assert draft.generated_by == "template"
    assert draft.check_failures == ("repeats its instructions", "repeats its instructions")


async def test_spam_and_scam_get_no_reply_and_no_model_call(
    offer: ReplyDraftRequest, writer: Writer, fake: FakeOpenAIServer
) -> None:
    for intent in ("spam", "scam"):
        draft = await writer.draft_reply(dataclasses.replace(offer, intent=intent))
        assert draft.text is None
        assert (draft.generated_by, draft.attempts) == ("template", 0)
    assert fake.chat_requests() == []


async def test_without_a_model_everything_comes_from_templates(
    offer: ReplyDraftRequest,
) -> None:
    writer = Writer.from_settings(AISettings(base_url=None, model=None))
    request = offer

    draft = await writer.draft_reply(request)

    assert not writer.enabled
    assert (draft.text, draft.generated_by, draft.attempts) == (reply_template(request), "template", 0)
    assert draft.fallback_reason == "no model configured"
    await writer.aclose()


async def test_the_api_key_never_appears_in_logs(
    api_key: str,
    offer: ReplyDraftRequest,
    ai_settings: Callable[..., AISettings],
    fake: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "cashout.ai"):
        caplog.set_level(logging.DEBUG, logger=name)
    good = Writer.from_settings(ai_settings())
    wrong = Writer.from_settings(ai_settings(api_key="sk-wrong-key-0000000000000000"))
    fake.script("Sure, $80 is fine.", GOOD, Reply.error("rate_limited"), Reply.error("server_error"))
    try:
        for w in (good, good, good, wrong):
            await w.draft_reply(offer)
    finally:
        await good.aclose()
        await wrong.aclose()

    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert any(r.name.startswith("openai") for r in caplog.records)  # the client's own debug logs were on
    assert "using the template" in logged  # the failures were logged...
    assert api_key not in logged  # ...without the key
    assert api_key[-4:] not in logged
    assert "sk-wrong-key-0000000000000000" not in logged
    assert "$80" not in logged  # nor the discarded text that named the floor


async def test_templates_pass_the_checks_for_every_intent_and_decision(
    offer: ReplyDraftRequest,
) -> None:
    writer = Writer.from_settings(AISettings(base_url=None, model=None))
    cases = 0
    for intent in ("availability", "price_question", "offer", "pickup", "shipping", "question", "other", "follow_up"):
        for kind, price in ((None, None), ("accept", 8000), ("counter", 10000), ("decline", None), ("hold", None)):
            for facts in (
                {},
                {"shipping": "no", "condition": "used_fair"},
                {"shipping": "yes, $15 flat within the US", "pickup_area": "Park Slope", "available_times": "Sundays"},
            ):
                request = dataclasses.replace(
                    offer, intent=intent, decision_kind=kind, decision_price_minor=price, facts=facts
                )
                text = reply_template(request)
                assert text is not None
                assert check_text(text, rules_for_reply(request)) == (), (intent, kind, facts, text)
                draft = await writer.draft_reply(request)
                assert draft.text == text
                cases += 1
    assert cases == 120

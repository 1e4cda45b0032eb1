"""What the delivery worker needs to send a reply and record what came of it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import NeedsAction, ReplyRequest, ReplySent
from cashout_server.db.models import Delivery, Lead, LeadMessage, utcnow
from cashout_server.domain.leads.services import _note_first_response, add_event, latest_inbound


class ReplyGone(Exception):
    """The reply or its conversation no longer exists, or it was discarded."""


async def load_reply(session: AsyncSession, delivery: Delivery) -> tuple[Lead, LeadMessage, ReplyRequest]:
    """The lead, our message and the request for ``send_reply`` behind a reply delivery.

    Raises:
        ReplyGone: nothing left to send.
    """
    public_id = str(delivery.payload.get("message", ""))
    message = await session.scalar(select(LeadMessage).where(LeadMessage.public_id == public_id))
    if message is None or delivery.lead_id is None or message.status == "discarded":
        raise ReplyGone("the reply was discarded or its conversation deleted")
    lead = await session.get_one(Lead, delivery.lead_id)
    last = await latest_inbound(session, lead)
    request = ReplyRequest(
        lead_external_id=lead.thread_id,
        body=message.body,
        idempotency_key=delivery.idempotency_key,
        to_address=lead.buyer_handle,
        subject=lead.subject,
        in_reply_to=last.external_id if last is not None else None,
        last_inbound_at=lead.last_inbound_at,
    )
    return lead, message, request


async def record_reply_outcome(session: AsyncSession, lead: Lead, message: LeadMessage, outcome: object) -> str:
    """Store what ``send_reply`` returned on the message and the lead's timeline.

    Returns:
        ``sent`` or ``needs_action``.
    """
    now = utcnow()
    if isinstance(outcome, ReplySent):
        message.status = "sent"
        message.external_id = outcome.external_id
        message.sent_at = now
        lead.last_outbound_at = now
        lead.last_message_at = max(lead.last_message_at or now, now)
        _note_first_response(lead, now)
        await add_event(session, lead, "reply_sent", "reply sent", message=message.public_id)
        return "sent"
    if isinstance(outcome, NeedsAction):
        message.status = "needs_action"
        await add_event(
            session,
            lead,
            "reply_needs_action",
            f"a person must send this reply on the platform: {outcome.instructions}",
            message=message.public_id,
            url=outcome.url,
        )
        return "needs_action"
    raise TypeError(f"send_reply returned {type(outcome).__name__}")


async def record_reply_failure(session: AsyncSession, delivery: Delivery, why: str, *, unknown: bool) -> None:
    """Mark our message failed (or maybe sent) after its delivery gave up."""
    if delivery.lead_id is None:
        return
    public_id = str(delivery.payload.get("message", ""))
    message = await session.scalar(select(LeadMessage).where(LeadMessage.public_id == public_id))
    lead = await session.get(Lead, delivery.lead_id)
    if message is None or lead is None:
        return
    message.status = "unknown" if unknown else "failed"
    what = "may have been sent; check the conversation on the platform" if unknown else "could not be sent"
    await add_event(session, lead, "reply_failed", f"the reply {what}: {why}", message=message.public_id)

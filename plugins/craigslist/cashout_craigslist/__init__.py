"""Craigslist for cashout: the Bulk Posting Interface where craigslist allows it, assisted posting elsewhere.

Craigslist has one write interface, the Bulk Posting Interface, and grants it case by case to
high-volume posters in paid US categories only (jobs, broker apartments, by-dealer sales). So:

* **Bulk path**: when the listing's category is one the interface accepts *and* the connection
  holds a bulk account (username, password, account id), the plugin validates the posting with
  ``POST /bulk-rss/validate`` and publishes it with ``POST /bulk-rss/post``.
* **Assisted path**: everything else (by-owner sales such as ``fuo``, ``ele``, ``sss``) returns
  ``NeedsAction`` with ready-to-paste copy and the posting page; a person publishes it.

The interface has no idempotency key and no documented way to look a posting up, so the plugin
keeps its own record in ``ctx.state``: it marks a posting as being sent before ``/post`` and
stores craigslist's answer after. A retry with the same idempotency key returns the stored
answer, and a retry after an unanswered ``/post`` raises ``OutcomeUnknown`` instead of posting
twice; a person who checked the account and found nothing publishes under a new key.

Delisting is always a person's job: the interface documents no delete (or expire) call, only a
``postingManageURL`` per posting whose page has a "delete this posting" button. ``delist`` hands
that link (or the account page) to a person.

Buyers answer postings through craigslist's e-mail relay: ``parse_lead_email`` recognises that
mail (from ``<random>@reply.craigslist.org``, directly or forwarded by the seller) and
``send_reply`` answers it by e-mail to the relay address through the server's SMTP settings.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cashout_craigslist import _bulk, _mail
from cashout_craigslist._data import AREAS, BULK_CATEGORIES
from cashout_craigslist._text import TITLE_MAX
from cashout_server import (
    Absent,
    Capability,
    ConfigField,
    ConnectionInfo,
    Delisted,
    FeeModel,
    InboundEmail,
    InboundMessage,
    ListingLimits,
    ListingRequest,
    NeedsAction,
    OutboundEmail,
    OutcomeUnknown,
    PlatformDescriptor,
    PluginContext,
    PluginError,
    Published,
    PublishOutcome,
    RateLimit,
    RateLimited,
    ReauthRequired,
    Rejected,
    ReplyRequest,
    ReplySent,
    StatusOutcome,
    TransientError,
    clean_text,
    fit_title,
    hookimpl,
    whole_units,
)

__all__ = [
    "ACCOUNT_HOME",
    "PLATFORM",
    "check_status",
    "delist",
    "descriptor",
    "parse_lead_email",
    "platforms",
    "publish",
    "send_reply",
]

PLATFORM = "craigslist"
ACCOUNT_HOME = "https://accounts.craigslist.org/login/home"
"""The craigslist account page that lists a person's postings."""
PRIVACY_CHOICES = ("A", "C", "P")

_SENDING = "sending"
"""State value written before ``/post``: the posting may exist until an answer replaces it."""


def descriptor() -> PlatformDescriptor:
    """Describe the craigslist platform.

    Returns:
        The descriptor the core registers under ``craigslist``.
    """
    return PlatformDescriptor(
        name=PLATFORM,
        display_name="Craigslist",
        description=(
            "Posts through craigslist's Bulk Posting Interface in the paid categories it serves, "
            "and prepares ready-to-paste postings for a person everywhere else. Buyers' relay e-mails become "
            "leads, and replies go back through the relay by e-mail."
        ),
        capabilities=frozenset({Capability.PUBLISH, Capability.DELIST, Capability.ASSISTED, Capability.REPLY}),
        credential_fields=(
            ConfigField(
                name="username",
                label="Bulk posting username",
                required=False,
                help="Only for accounts craigslist approved for the Bulk Posting Interface.",
            ),
            ConfigField(name="password", label="Bulk posting password", secret=True, required=False),
            ConfigField(
                name="account_id",
                label="Bulk posting account ID",
                required=False,
                help="The accountID craigslist assigned to the bulk posting account.",
            ),
        ),
        setting_fields=(
            ConfigField(name="area", label="Area", help="Craigslist area code, such as nyc, sfo or chi."),
            ConfigField(
                name="subarea",
                label="Subarea",
                required=False,
                help="Subarea code within the area, such as brk (Brooklyn) in nyc.",
            ),
            ConfigField(
                name="category",
                label="Default category",
                help=(
                    "Category code, such as fuo (furniture by owner) or fee (apts broker fee). "
                    "A listing's 'category' option overrides it."
                ),
            ),
            ConfigField(
                name="reply_email",
                label="Reply e-mail",
                required=False,
                help="Where buyers' replies go for bulk postings; defaults to the username.",
            ),
            ConfigField(
                name="privacy",
                label="Reply e-mail privacy",
                required=False,
                default="C",
                choices=PRIVACY_CHOICES,
                help="The privacy code the Bulk Posting Interface applies to the reply e-mail.",
            ),
        ),
        # Craigslist states no body length limit for the bulk interface; None leaves bodies uncut.
        limits=ListingLimits(title_max=TITLE_MAX, photo_max_count=_bulk.MAX_IMAGES, photo_formats=("JPEG",)),
        fees=FeeModel(
            note=(
                "Craigslist charges per posting in some categories and areas (jobs, broker apartments, "
                "by-dealer sales) and most by-owner sales are free; fees vary by area and category "
                "and are billed to the craigslist account, not computed here."
            )
        ),
        # Craigslist itself spaces the postings of one batch about 30 s apart and documents no rate
        # limit; one posting at a time per account keeps the plugin's record of sends unambiguous.
        rate_limit=RateLimit(max_concurrency=1),
        default_base_url="https://post.craigslist.org",
    )


@hookimpl
def platforms() -> Sequence[PlatformDescriptor]:
    """Describe the platforms this plugin serves.

    Returns:
        The craigslist descriptor.
    """
    return [descriptor()]


# --- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    area: str
    subarea: str | None
    category: str
    privacy: str


def _setting(values: Mapping[str, str], name: str) -> str:
    return (values.get(name) or "").strip()


def _target(connection: ConnectionInfo, listing: ListingRequest) -> _Target | Rejected:
    settings = connection.settings
    area = _setting(settings, "area").lower()
    if not area:
        return Rejected(reason="the connection has no craigslist area", fields={"area": "required"})
    if area not in AREAS:
        return Rejected(
            reason=f"{area!r} is not a craigslist area code", fields={"area": f"unknown area code {area!r}"}
        )
    subarea = _setting(settings, "subarea").lower() or None
    if subarea is not None and subarea not in AREAS[area].subareas:
        known = ", ".join(AREAS[area].subareas) or "none"
        return Rejected(
            reason=f"{subarea!r} is not a subarea of {area!r} (subareas: {known})",
            fields={"subarea": f"unknown subarea {subarea!r} for {area!r}"},
        )
    category = (_setting(listing.options, "category") or _setting(settings, "category")).lower()
    if not category:
        return Rejected(reason="no craigslist category for this listing", fields={"category": "required"})
    privacy = _setting(settings, "privacy").upper() or "C"
    if privacy not in PRIVACY_CHOICES:
        return Rejected(
            reason=f"reply e-mail privacy must be one of {', '.join(PRIVACY_CHOICES)}",
            fields={"privacy": f"unknown privacy code {privacy!r}"},
        )
    return _Target(area=area, subarea=subarea, category=category, privacy=privacy)


def _bulk_auth(connection: ConnectionInfo) -> _bulk.BulkAuth | None:
    creds = connection.credentials
    username, password, account_id = (_setting(creds, k) for k in ("username", "password", "account_id"))
    if not (username and password and account_id):
        return None
    return _bulk.BulkAuth(username=username, password=password, account_id=account_id)


# --- the plugin's record of postings -----------------------------------------------------


def _publish_key(listing: ListingRequest) -> str:
    return f"publish:{listing.idempotency_key}"


def _listing_key(listing: ListingRequest) -> str:
    return f"listing:{listing.listing_id}"


def _posting_key(posting_id: str) -> str:
    return f"posting:{posting_id}"


def _encode(outcome: Published) -> str:
    return json.dumps(
        {
            "posting_id": outcome.external_id,
            "url": outcome.url,
            "manage_url": outcome.manage_url,
            "warnings": list(outcome.warnings),
        }
    )


def _decode(value: str) -> Published | None:
    try:
        data = json.loads(value)
        return Published(
            external_id=str(data["posting_id"]),
            url=data.get("url"),
            manage_url=data.get("manage_url"),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def _recorded(ctx: PluginContext, key: str) -> Published | str | None:
    """The stored outcome under ``key``, the sending marker, or ``None``."""
    value = await ctx.state.get(key)
    if value is None or value == _SENDING:
        return value
    # A record this version cannot read is treated like a send without an answer: never re-post.
    return _decode(value) or _SENDING


def _unknown(listing: ListingRequest) -> OutcomeUnknown:
    return OutcomeUnknown(
        "an earlier attempt sent this posting to craigslist and got no answer; the Bulk Posting "
        "Interface has no lookup, so check the craigslist account before publishing it again",
        listing_id=listing.listing_id,
    )


# --- hooks -------------------------------------------------------------------------------


@hookimpl
async def publish(ctx: PluginContext, listing: ListingRequest) -> PublishOutcome:
    """Publish a listing: through the Bulk Posting Interface when possible, else by a person.

    The bulk path needs a category the interface accepts (jobs, broker housing, by-dealer sales)
    and a bulk account in the credentials. It validates first, then posts; a retry with the same
    idempotency key returns the stored answer without calling craigslist again.

    Args:
        ctx: the connection (area, category, bulk credentials), HTTP client and state.
        listing: the item, its JPEG photos and the idempotency key; ``options["category"]``
            overrides the connection's category.

    Returns:
        ``Published`` (enqueued by craigslist; ``manage_url`` is the seller's edit/delete link),
        ``NeedsAction`` with ready-to-paste copy on the assisted path, or ``Rejected`` when the
        settings or craigslist's validation refuse the posting.

    Raises:
        ReauthRequired: craigslist refused the bulk account's credentials.
        RateLimited: craigslist answered 429.
        TransientError: nothing was posted (unreachable, 503, validation failed to answer).
        OutcomeUnknown: the posting may exist (no answer after sending, or an earlier attempt
            with this idempotency key got none).
    """
    recorded = await _recorded(ctx, _publish_key(listing))
    if isinstance(recorded, Published):
        return recorded
    if recorded == _SENDING:
        raise _unknown(listing)

    target = _target(ctx.connection, listing)
    if isinstance(target, Rejected):
        return target
    title = fit_title(listing.item.title, TITLE_MAX)
    if not title:
        return Rejected(reason="the listing has no title", fields={"title": "required"})
    auth = _bulk_auth(ctx.connection)
    if auth is None or target.category not in BULK_CATEGORIES:
        return _assisted(target, listing, title)
    return await _publish_bulk(ctx, listing, target, auth, title)


def _assisted(target: _Target, listing: ListingRequest, title: str) -> NeedsAction:
    where = f"{AREAS[target.area].name} ({target.area})"
    why = (
        "craigslist's Bulk Posting Interface does not serve this category"
        if target.category not in BULK_CATEGORIES
        else "no bulk posting account is connected"
    )
    copy = {
        "title": title,
        "body": clean_text(listing.item.description).strip(),
        "price": whole_units(listing.item.price),
        "category": target.category,
        "area": target.area,
    }
    if target.subarea:
        copy["subarea"] = target.subarea
    return NeedsAction(
        instructions=(
            f"Post this listing by hand ({why}): open the link (craigslist {where}), choose category "
            f"'{target.category}', paste the title, price and body, add the photos, publish, and confirm "
            f"here with the posting's URL."
        ),
        url=f"https://post.craigslist.org/c/{target.area}",
        copy=copy,
        photo_ids=tuple(photo.id for photo in listing.photos[: _bulk.MAX_IMAGES]),
    )


async def _read_photos(listing: ListingRequest) -> tuple[bytes, ...] | Rejected:
    images: list[bytes] = []
    for photo in listing.photos[: _bulk.MAX_IMAGES]:
        try:
            images.append(await asyncio.to_thread(Path(photo.path).read_bytes))
        except OSError as exc:
            return Rejected(
                reason=f"photo {photo.id} could not be read: {exc.strerror or exc}",
                fields={"photos": f"unreadable file for {photo.id}"},
            )
    return tuple(images)


async def _publish_bulk(
    ctx: PluginContext, listing: ListingRequest, target: _Target, auth: _bulk.BulkAuth, title: str
) -> PublishOutcome:
    reply_email = _setting(ctx.connection.settings, "reply_email") or (auth.username if "@" in auth.username else "")
    if not reply_email:
        return Rejected(
            reason="bulk postings need a reply e-mail and the username is not one",
            fields={"reply_email": "required"},
        )
    images = await _read_photos(listing)
    if isinstance(images, Rejected):
        return images
    price = whole_units(listing.item.price) if listing.item.price.amount_minor > 0 else None
    document = _bulk.build_rss(
        auth,
        [
            _bulk.BulkPosting(
                key=listing.idempotency_key,
                title=title,
                description=clean_text(listing.item.description),
                category=target.category,
                area=target.area,
                subarea=target.subarea,
                price=price,
                reply_email=reply_email,
                privacy=target.privacy,
                images=images,
            )
        ],
    )

    try:
        validated = await _bulk.send(ctx.http, _bulk.VALIDATE_PATH, document, publishes=False)
    except _bulk.Refused as refused:
        return refused.outcome
    check = validated.get(listing.idempotency_key)
    if check is None:
        return Rejected(reason="craigslist's validation answer did not mention the posting")
    if check.status != "VALID":
        reason = check.explanation or f"craigslist validation status {check.status or 'missing'}"
        return Rejected(reason=reason, fields=_bulk.fields_for(check.explanation))

    keys = (_publish_key(listing), _listing_key(listing))
    for key in keys:
        await ctx.state.set(key, _SENDING)
    try:
        answered = await _bulk.send(ctx.http, _bulk.POST_PATH, document, publishes=True)
    except _bulk.Refused as refused:
        await _forget(ctx, keys)
        return refused.outcome
    except OutcomeUnknown:
        ctx.log.warning("craigslist posting of listing %s: outcome unknown", listing.listing_id)
        raise
    except (TransientError, ReauthRequired, RateLimited):
        # send() raises these only when craigslist certainly did not post: a retry may post.
        await _forget(ctx, keys)
        raise

    result = answered.get(listing.idempotency_key)
    if result is None or (result.status == "POSTED" and not result.posting_id):
        ctx.log.warning("craigslist posting of listing %s: answer without a posting id", listing.listing_id)
        raise _unknown(listing)
    if result.status != "POSTED" or result.posting_id is None:
        await _forget(ctx, keys)
        reason = result.explanation or f"craigslist posting status {result.status or 'missing'}"
        return Rejected(reason=reason, fields=_bulk.fields_for(result.explanation))

    outcome = Published(
        external_id=result.posting_id,
        url=result.view_url,
        manage_url=result.manage_url,
        warnings=result.warnings,
    )
    record = _encode(outcome)
    for key in (*keys, _posting_key(outcome.external_id)):
        await ctx.state.set(key, record)
    ctx.log.info("craigslist enqueued listing %s as posting %s", listing.listing_id, outcome.external_id)
    return outcome


async def _forget(ctx: PluginContext, keys: Sequence[str]) -> None:
    for key in keys:
        await ctx.state.set(key, None)


@hookimpl
async def check_status(ctx: PluginContext, listing: ListingRequest) -> StatusOutcome:
    """Report what the plugin knows of a posting; craigslist itself offers no lookup.

    The Bulk Posting Interface documents no call that finds a posting, so the answer comes from
    the plugin's own record: craigslist's stored answer to ``/post``, a send that got no answer,
    or nothing at all.

    Args:
        ctx: the connection and its state.
        listing: the listing; ``external_id`` is set when a posting id is known.

    Returns:
        ``Published`` when craigslist answered the post, or ``Absent`` when the plugin never sent
        this listing and no posting id is known (assisted listings nobody confirmed, or postings
        craigslist refused).

    Raises:
        OutcomeUnknown: a send got no answer, or a posting id is known but the plugin has no
            record of it (an assisted posting a person confirmed); a person must check craigslist.
    """
    keys = [_publish_key(listing), _listing_key(listing)]
    if listing.external_id:
        keys.append(_posting_key(listing.external_id))
    for key in keys:
        recorded = await _recorded(ctx, key)
        if isinstance(recorded, Published):
            return recorded
        if recorded == _SENDING:
            raise _unknown(listing)
    if listing.external_id:
        raise OutcomeUnknown(
            f"craigslist posting {listing.external_id} cannot be looked up; check it on the craigslist account",
            listing_id=listing.listing_id,
        )
    return Absent(detail="the plugin never sent this listing to craigslist")


@hookimpl
async def delist(ctx: PluginContext, listing: ListingRequest) -> Delisted | NeedsAction | Rejected:
    """Ask a person to delete the posting: craigslist documents no delete call.

    Args:
        ctx: the connection and its state.
        listing: the listing; ``external_id`` is the posting id when known, and
            ``options["manage_url"]`` may carry the posting's manage link.

    Returns:
        ``NeedsAction`` pointing at the posting's manage page (bulk postings) or at the craigslist
        account page (postings made by hand).
    """
    key = _posting_key(listing.external_id) if listing.external_id else _listing_key(listing)
    recorded = await _recorded(ctx, key)
    manage_url = recorded.manage_url if isinstance(recorded, Published) else None
    manage_url = manage_url or _setting(listing.options, "manage_url") or None
    if manage_url:
        return NeedsAction(instructions="Open the manage link and choose 'delete this posting'.", url=manage_url)
    which = (
        f"posting {listing.external_id}"
        if listing.external_id
        else f"the posting '{fit_title(listing.item.title, TITLE_MAX)}'"
    )
    return NeedsAction(
        instructions=(f"Log in to craigslist, find {which} among your postings and choose 'delete this posting'."),
        url=ACCOUNT_HOME,
    )


# --- buyers' mail --------------------------------------------------------------------------


@hookimpl
def parse_lead_email(email: InboundEmail) -> InboundMessage | None:
    """Recognise a buyer's mail through craigslist's relay, received directly or forwarded.

    Args:
        email: the decoded mail.

    Returns:
        The buyer message (``thread_id`` and ``sender_handle`` are the relay address, ``item_hint``
        the posting title from the subject, ``listing_external_id`` the posting id when the mail
        links the posting), or ``None`` for any other mail.
    """
    return _mail.parse_relay_email(email, platform=PLATFORM)


def _reply_key(reply: ReplyRequest) -> str:
    return f"reply:{reply.idempotency_key}"


def _reply_subject(reply: ReplyRequest) -> str:
    subject = " ".join((reply.subject or "").split())
    if not subject:
        return "Re: your message about my craigslist posting"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


@hookimpl
async def send_reply(ctx: PluginContext, reply: ReplyRequest) -> ReplySent | NeedsAction:
    """Answer a buyer by e-mail to the relay address the buyer's mail came from.

    A retry with the same idempotency key after a delivered reply returns ``ReplySent`` without
    sending again.

    Args:
        ctx: the connection; ``ctx.send_email`` is the server's SMTP sender.
        reply: the text, the relay address (``to_address``, else the conversation id), the
            subject and the Message-ID of the buyer's last mail (for threading).

    Returns:
        ``ReplySent``, or ``NeedsAction`` with the text to send by hand when the server has no
        SMTP settings, the address is not a craigslist relay, or the mail server refused it for good.

    Raises:
        TransientError: the mail server is unreachable or refused the mail for now.
        OutcomeUnknown: the mail may have been delivered (no answer after sending, or an earlier
            attempt with this idempotency key got none).
    """
    to = (reply.to_address or reply.lead_external_id or "").strip().lower()
    subject = _reply_subject(reply)
    copy = {"to": to, "subject": subject, "body": reply.body}
    if not _mail.is_relay_address(to):
        return NeedsAction(
            instructions=(
                f"{to or 'This conversation'} is not a craigslist relay address; answer the buyer by hand "
                "with the text below."
            ),
            copy=copy,
        )
    if ctx.send_email is None:
        return NeedsAction(
            instructions=(
                f"cashout has no SMTP server set up (CASHOUT_MAIL_SMTP_HOST), so send this reply yourself: "
                f"e-mail {to} from the address your craigslist posting uses, with the subject and text below."
            ),
            url=f"mailto:{to}",
            copy=copy,
        )
    key = _reply_key(reply)
    recorded = await ctx.state.get(key)
    if recorded == _SENDING:
        raise OutcomeUnknown(
            f"an earlier attempt to mail this reply to {to} got no answer from the mail server; check your "
            "sent mail before sending it again",
            to=to,
        )
    if recorded is not None:
        return ReplySent()
    mail = OutboundEmail(
        to=to,
        subject=subject,
        text=reply.body,
        in_reply_to=reply.in_reply_to,
        references=(reply.in_reply_to,) if reply.in_reply_to else (),
    )
    # Marked before sending: if this process dies (or the mailer crashes) mid-send, a retry
    # raises OutcomeUnknown instead of mailing the buyer twice.
    await ctx.state.set(key, _SENDING)
    try:
        await ctx.send_email(mail)
    except OutcomeUnknown:
        raise
    except (TransientError, RateLimited):
        await ctx.state.set(key, None)
        raise
    except PluginError as exc:
        # Any other contract error from the mailer is a permanent refusal: nothing was delivered.
        await ctx.state.set(key, None)
        return NeedsAction(
            instructions=(
                f"The mail server refused the reply to {to} ({exc.message or type(exc).__name__}); craigslist "
                "relay addresses expire some months after a posting ends. Answer the buyer another way."
            ),
            copy=copy,
        )
    await ctx.state.set(key, "sent")
    ctx.log.info("craigslist reply mailed to a relay address (key %s)", reply.idempotency_key)
    return ReplySent()

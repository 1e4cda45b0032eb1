"""SQLAlchemy 2 models. Alembic migrations in ``migrations/`` must match these exactly.

Conventions: integer surrogate keys stay internal; ``public_id`` is what the API shows. Money is
integer minor units beside an ISO 4217 ``currency``. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; refuse naive datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; cashout stores UTC-aware timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint naming that Alembic can reproduce."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Timestamped:
    """Created and updated times."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Timestamped, Base):
    """A person who uses this server."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A personal access token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class Connection(Timestamped, Base):
    """A seller's account on one platform. Credentials are Fernet-encrypted JSON."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_detail: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    max_concurrency: Mapped[int | None] = mapped_column(Integer)
    """Overrides the descriptor's ``rate_limit.max_concurrency`` for this account."""
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    """Overrides the descriptor's ``rate_limit.requests_per_minute`` for this account."""
    approval_policy: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    """Action name to ``true``/``false``: overrides the descriptor's ``approval_required``."""
    throttled_until: Mapped[datetime | None]
    """No delivery to this account before this time (the platform's Retry-After or reset)."""
    feed_token: Mapped[str | None] = mapped_column(String(64))
    """The secret part of this account's feed URL (feed platforms only)."""
    auto_reply: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    """Intent name to ``true``/``false`` or a confidence threshold: overrides the auto-reply defaults."""
    lead_fetch_interval: Mapped[int | None] = mapped_column(Integer)
    """Seconds between lead fetches for this account (overrides the descriptor and the default)."""
    metrics_interval: Mapped[int | None] = mapped_column(Integer)
    """Seconds between metric syncs for this account (overrides the default)."""


class ConnectionState(Base):
    """Small per-connection key/value state for plugins (cursors, last-seen ids)."""

    __tablename__ = "connection_state"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Item(Timestamped, Base):
    """Something the seller owns and may sell."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    sku: Mapped[str | None] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    condition: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    brand: Mapped[str | None] = mapped_column(String(100))
    identifiers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    cost_basis_minor: Mapped[int | None] = mapped_column(BigInteger)
    list_price_minor: Mapped[int] = mapped_column(BigInteger)
    floor_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    negotiation: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    """Per-item overrides of the negotiation strategy (accept threshold, rounds, schedule)."""
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    """What the seller states buyers may be told (pickup area and times, shipping): replies use only these."""


class Photo(Base):
    """A photo of an item. The original and its cleaned copy live on disk by SHA-256."""

    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_item_position", "item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    original_sha256: Mapped[str] = mapped_column(String(64))
    original_format: Mapped[str] = mapped_column(String(10))
    original_bytes: Mapped[int] = mapped_column(BigInteger)
    clean_sha256: Mapped[str] = mapped_column(String(64))
    clean_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255))
    phash: Mapped[str | None] = mapped_column(String(16))
    """64-bit perceptual hash (hex) for near-duplicate detection."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Timestamped, Base):
    """An item on one connection, with where it stands there."""

    __tablename__ = "listings"
    __table_args__ = (UniqueConstraint("item_id", "connection_id", name="uq_listings_item_connection"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    manage_url: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]

    item: Mapped[Item] = relationship(lazy="raise")
    connection: Mapped[Connection] = relationship(lazy="raise")


class ListingEvent(Base):
    """One step in a listing's history (every status change, with why)."""

    __tablename__ = "listing_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sale(Base):
    """Units of an item sold: by hand, detected by a plugin, or paid through a payment link."""

    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"))
    """The account it sold through, when known."""
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    source: Mapped[str] = mapped_column(String(20))
    """``manual``, ``platform`` or ``payment``."""
    note: Mapped[str] = mapped_column(Text, default="")
    platform: Mapped[str | None] = mapped_column(String(40))
    """Where the buyer came from (also set when no connection is known)."""
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    fees_minor: Mapped[int | None] = mapped_column(BigInteger)
    """Platform and payment fees for this sale."""
    shipping_minor: Mapped[int | None] = mapped_column(BigInteger)
    """Shipping paid by the seller."""
    payment_method: Mapped[str | None] = mapped_column(String(40))
    """``cash``, ``stripe``, ``platform``, ... as the seller records it."""
    payment_ref: Mapped[str | None] = mapped_column(String(200))
    """The payment's id (a Stripe PaymentIntent, a platform order)."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """An outbox row: one change that must reach a platform, written with the change that caused it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_deliveries_claim", "connection_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    """Set for replies: the conversation they answer."""
    action: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    must_check: Mapped[bool] = mapped_column(Boolean, default=False)
    """An earlier attempt may have been applied: ask ``check_status`` before sending again."""
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    connection: Mapped[Connection] = relationship(lazy="raise")
    listing: Mapped[Listing | None] = relationship(lazy="raise")
    lead: Mapped[Lead | None] = relationship(lazy="raise")


class DeliveryAttempt(Base):
    """One try at a delivery: when, and what came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    hook: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")


class Approval(Base):
    """A delivery waiting for (or decided by) a person, as the approval policy requires."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True)
    action: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")

    delivery: Mapped[Delivery] = relationship(lazy="raise")


class IdempotencyRecord(Base):
    """A POST answered under an ``Idempotency-Key``: replayed for the same key and body."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of method, path and body: another body under the same key is refused."""
    status_code: Mapped[int | None] = mapped_column(Integer)
    """``None`` while the first request is still being handled."""
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Lead(Timestamped, Base):
    """One buyer's conversation about one item (or an unknown item) on one platform."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("platform", "thread_id", name="uq_leads_platform_thread"),
        Index("ix_leads_state_score", "state", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    thread_id: Mapped[str] = mapped_column(String(300))
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"), index=True)
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_handle: Mapped[str | None] = mapped_column(String(300))
    """Where replies go (a relay address, a user id)."""
    subject: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="new")
    """``new``, ``open``, ``negotiating``, ``agreed``, ``won``, ``lost``, ``spam``, ``archived``."""
    intent: Mapped[str | None] = mapped_column(String(30))
    intent_confidence: Mapped[float | None]
    score: Mapped[int] = mapped_column(Integer, default=0)
    score_explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Scam signals and other warnings, name to reason."""
    negotiation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The negotiation's state: rounds, offers, counters, agreed price."""
    last_message_at: Mapped[datetime | None] = mapped_column(index=True)
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    """How long the seller took to answer the buyer's first message."""


class LeadMessage(Base):
    """A message in a lead's conversation, from the buyer or to the buyer (drafts included)."""

    __tablename__ = "lead_messages"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_lead_messages_platform_external"),
        Index("ix_lead_messages_lead_sent", "lead_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(300))
    """The platform's id; ``None`` for our own drafts until sent."""
    direction: Mapped[str] = mapped_column(String(3))
    """``in`` (buyer) or ``out`` (seller)."""
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="received")
    """``received``; for ours: ``draft``, ``awaiting_approval``, ``queued``, ``sent``, ``failed``, ``discarded``."""
    author: Mapped[str] = mapped_column(String(20), default="buyer")
    """``buyer``, ``seller`` (a person), ``auto`` (cashout on its own), ``platform``."""
    intent: Mapped[str | None] = mapped_column(String(30))
    confidence: Mapped[float | None]
    reason: Mapped[str | None] = mapped_column(Text)
    offer_minor: Mapped[int | None] = mapped_column(BigInteger)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    generated_by: Mapped[str | None] = mapped_column(String(20))
    """For drafts: ``model`` or ``template``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadEvent(Base):
    """One step in a lead's timeline, with why (classification, offer, decision, reply, sale)."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreModel(Base):
    """Lead-score weights refit from outcomes (leads that became sales versus not)."""

    __tablename__ = "score_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    samples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentLink(Base):
    """A Stripe payment link or Checkout Session for an item, sent to a lead."""

    __tablename__ = "payment_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``payment_link`` or ``checkout_session``."""
    purpose: Mapped[str] = mapped_column(String(20), default="full")
    """``full`` (the sale) or ``deposit`` (holds the item)."""
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stripe_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="creating")
    """``creating``, ``open``, ``paid``, ``expired``, ``failed``."""
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    sale_id: Mapped[int | None] = mapped_column(ForeignKey("sales.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]


class StripeEvent(Base):
    """A verified Stripe webhook event, stored once: repeats and races are recognised by its id."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    created: Mapped[datetime]
    """Stripe's creation time of the event (orders events about one object)."""
    status: Mapped[str] = mapped_column(String(20), default="received")
    """``received``, ``processed``, ``ignored``, ``failed``."""
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class JobRun(Base):
    """One run of a scheduled job (or a request to run it now), with its outcome and counts."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    job_id: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(20))
    """``schedule``, ``manual`` or ``missed`` (a coalesced run after downtime)."""
    state: Mapped[str] = mapped_column(String(20), index=True)
    """``queued``, ``running``, ``ok``, ``failed``, ``abandoned``."""
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str | None] = mapped_column(String(100))
    """The process that ran it (host:pid)."""
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SchedulerLease(Base):
    """Who runs the scheduled jobs now: one holder at a time, until ``expires_at`` unless renewed."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    """Incremented at each change of holder (a fencing token)."""
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class AutomationRule(Timestamped, Base):
    """A seller's rule for an item or a category: price drops, relisting, lead follow-ups."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    """``price_drop``, ``relist`` or ``follow_up``."""
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ItemEvent(Base):
    """Something that happened to an item and why (a rule's price drop, a relist, a sale)."""

    __tablename__ = "item_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("automation_rules.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServerState(Base):
    """Small server-wide key/value state (the mailbox's last seen UID, job bookkeeping)."""

    __tablename__ = "server_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MetricSample(Base):
    """One measured value from ``fetch_metrics`` (views, clicks, spend) of a listing, post or campaign."""

    __tablename__ = "metric_samples"
    __table_args__ = (
        UniqueConstraint("connection_id", "subject", "external_id", "name", "at", name="uq_metric_samples_point"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(60))
    value: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)

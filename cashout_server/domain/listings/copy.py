"""``POST /api/v1/listings/{id}/copy``: a title and description written for the listing's platform.

The writer (an OpenAI-compatible model, or templates without one) works from the item, its
stated facts and the seller's tone, within the platform's limits from its descriptor. The copy
is stored on the listing and sent instead of the item's own title and description; the floor
price and cost basis never reach the model and are checked out of the result.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, post
from litestar.params import FromPath, JSONBody

from cashout_server.db.models import Item, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.ai.schemas import ListingCopyRequest
from cashout_server.domain.leads.services import money_text, writer_for
from cashout_server.domain.listings.services import COPY_DESCRIPTION, COPY_TITLE, load_listing
from cashout_server.problems import not_found

DEFAULT_TITLE_MAX = 150
DEFAULT_DESCRIPTION_MAX = 5000


class CopyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How to write the copy."""

    tone: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    """Overrides ``CASHOUT_AI_TONE`` for this copy."""
    apply: bool = True
    """Store it on the listing (sent on the next publish or update); ``false`` only previews."""


class CopyOut(msgspec.Struct, kw_only=True):
    """Copy for one listing, within its platform's limits."""

    listing_id: str
    platform: str
    title: str
    description: str
    title_max: int
    description_max: int
    generated_by: str
    """``model`` or ``template``."""
    check_failures: list[str]
    """Why earlier model answers were discarded (never the discarded text)."""
    applied: bool


def copy_request(item: Item, platform: str, title_max: int, description_max: int, tone: str) -> ListingCopyRequest:
    """What the writer needs for ``item`` on ``platform``; never the floor or cost basis."""
    secrets = [money_text(a, item.currency) for a in (item.floor_price_minor, item.cost_basis_minor) if a is not None]
    forbidden = [a for a in (item.floor_price_minor, item.cost_basis_minor) if a is not None]
    return ListingCopyRequest(
        item_title=item.title,
        title_max=title_max,
        description_max=description_max,
        description=item.description,
        condition=item.condition.replace("_", " "),
        brand=item.brand,
        category=item.category,
        tone=tone,
        platform=platform,
        facts={str(k): str(v) for k, v in (item.facts or {}).items()},
        secrets=secrets,
        forbidden_amounts_minor=[a for a in forbidden if a != item.list_price_minor],
        currency=item.currency,
    )


class ListingCopyController(Controller):
    """Platform-fitted listing copy."""

    path = "/api/v1/listings"
    tags = ["listings"]

    @post("/{listing_id:str}/copy", operation_id="writeListingCopy", status_code=200)
    async def write(
        self, runtime: RuntimeDep, db: Db, listing_id: FromPath[str], data: JSONBody[CopyIn | None] = None
    ) -> CopyOut:
        """Write a title and description for this listing's platform, within its limits."""
        options = data or CopyIn()
        listing: Listing | None = await load_listing(db, listing_id)
        if listing is None:
            raise not_found("listing", listing_id)
        platform = listing.connection.platform
        limits = runtime.registry.descriptor(platform).limits
        title_max = limits.title_max or DEFAULT_TITLE_MAX
        description_max = limits.description_max or DEFAULT_DESCRIPTION_MAX
        request = copy_request(
            listing.item, platform, title_max, description_max, options.tone or runtime.settings.ai.tone
        )
        copy = await writer_for(runtime).listing_copy(request)
        if options.apply:
            listing.options = {**listing.options, COPY_TITLE: copy.title, COPY_DESCRIPTION: copy.description}
            await db.commit()
        return CopyOut(
            listing_id=listing.public_id,
            platform=platform,
            title=copy.title,
            description=copy.description,
            title_max=title_max,
            description_max=description_max,
            generated_by=copy.generated_by,
            check_failures=list(copy.check_failures),
            applied=options.apply,
        )

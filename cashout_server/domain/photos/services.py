"""Photos prepared for platforms, and near-duplicate warnings for the photo API."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import ListingLimits, PhotoRef
from cashout_server.db.models import Photo
from cashout_server.domain.photos.similarity import near_duplicate_of
from cashout_server.domain.photos.store import PhotoStore
from cashout_server.domain.photos.variants import VariantFile, VariantSpec

K = TypeVar("K", bound=Hashable)

MEDIA_PATH = "/media"
"""Where the public variant files are served (``/media/<key>.<ext>``)."""


class PhotoFileMissing(FileNotFoundError):
    """A photo's original is no longer in the data folder, so no variant of it can be made."""

    def __init__(self, photo_id: str) -> None:
        super().__init__(f"the original file of photo {photo_id} is missing from the data folder")
        self.photo_id = photo_id


def media_url(public_base_url: str, variant: VariantFile) -> str:
    """The public URL a platform fetches ``variant`` from."""
    return f"{public_base_url.rstrip('/')}{MEDIA_PATH}/{variant.name}"


async def platform_photo_sets(
    store: PhotoStore,
    photos: Sequence[Photo],
    limits: Mapping[K, ListingLimits],
    *,
    public_base_url: str,
    enhance: bool | None = None,
) -> dict[K, tuple[PhotoRef, ...]]:
    """Photos prepared for several platforms at once: each original is decoded once for all of them.

    Variants already made are taken from the cache; the others are made in the worker processes,
    one task per original, several originals in parallel.

    Args:
        store: the photo store.
        photos: an item's photos, in any order (they are ordered by position).
        limits: each platform's listing limits, by any key (platform name, connection id).
        public_base_url: the server's public base URL, for the variants' ``url``.
        enhance: auto-enhance; ``None`` uses the ``auto_enhance`` setting.

    Returns:
        For each key, the prepared photos in position order, at most ``photo_max_count``.

    Raises:
        PhotoFileMissing: a photo's original is missing from the data folder.
        VariantTooLarge: a platform's ``photo_max_bytes`` cannot be met.
    """
    flag = store.settings.auto_enhance if enhance is None else enhance
    default_edge = store.settings.display_max_edge
    ordered = sorted(photos, key=lambda p: (p.position, p.id))
    specs = {
        key: VariantSpec.from_limits(lim, enhance=flag, default_max_edge=default_edge) for key, lim in limits.items()
    }
    wanted = {
        key: ordered[: lim.photo_max_count] if lim.photo_max_count is not None else ordered
        for key, lim in limits.items()
    }

    per_photo: dict[int, list[VariantSpec]] = {}
    for key, chosen in wanted.items():
        for photo in chosen:
            needed = per_photo.setdefault(photo.id, [])
            if specs[key] not in needed:
                needed.append(specs[key])

    async def one(photo: Photo) -> dict[VariantSpec, VariantFile]:
        try:
            made = await store.variants(photo.original_sha256, photo.original_format, per_photo[photo.id])
        except FileNotFoundError:
            raise PhotoFileMissing(photo.public_id) from None
        return dict(zip(per_photo[photo.id], made, strict=True))

    targets = [p for p in ordered if p.id in per_photo]
    results = dict(zip((p.id for p in targets), await asyncio.gather(*(one(p) for p in targets)), strict=True))
    return {
        key: tuple(_ref(photo, results[photo.id][specs[key]], public_base_url) for photo in chosen)
        for key, chosen in wanted.items()
    }


async def platform_photos(
    store: PhotoStore,
    photos: Sequence[Photo],
    limits: ListingLimits,
    *,
    public_base_url: str,
    enhance: bool | None = None,
) -> tuple[PhotoRef, ...]:
    """Photos prepared for one platform: sized, padded, encoded and stripped as its limits ask.

    Args:
        store: the photo store.
        photos: an item's photos, in any order (they are ordered by position).
        limits: the platform's listing limits.
        public_base_url: the server's public base URL, for the variants' ``url``.
        enhance: auto-enhance; ``None`` uses the ``auto_enhance`` setting.

    Returns:
        The prepared photos in position order, at most ``photo_max_count``.

    Raises:
        PhotoFileMissing: a photo's original is missing from the data folder.
        VariantTooLarge: the platform's ``photo_max_bytes`` cannot be met.
    """
    sets = await platform_photo_sets(store, photos, {0: limits}, public_base_url=public_base_url, enhance=enhance)
    return sets[0]


def _ref(photo: Photo, variant: VariantFile, public_base_url: str) -> PhotoRef:
    return PhotoRef(
        id=photo.public_id,
        path=variant.path,
        content_type=variant.content_type,
        width=variant.width,
        height=variant.height,
        sha256=variant.sha256,
        url=media_url(public_base_url, variant),
    )


async def near_duplicates(session: AsyncSession, item_id: int) -> dict[int, str | None]:
    """For each photo of an item (by row id), the public id of an earlier look-alike photo, if any.

    "Earlier" means uploaded before it; see
    :data:`~cashout_server.domain.photos.similarity.NEAR_DUPLICATE_DISTANCE` for the threshold.
    """
    rows = (
        await session.execute(
            select(Photo.id, Photo.public_id, Photo.phash).where(Photo.item_id == item_id).order_by(Photo.id)
        )
    ).all()
    out: dict[int, str | None] = {}
    for index, (row_id, _, phash) in enumerate(rows):
        out[row_id] = near_duplicate_of(phash, ((public_id, other) for _, public_id, other in rows[:index]))
    return out

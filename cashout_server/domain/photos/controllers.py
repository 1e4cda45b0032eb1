"""Photo upload (multipart), listing, download and deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody
from litestar.response import File
from sqlalchemy import func, select

from cashout_server.db.models import Item, Photo
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.items.controllers import load_item
from cashout_server.domain.photos.pool import PhotoWorkerCrashed
from cashout_server.domain.photos.services import MEDIA_PATH, near_duplicates
from cashout_server.domain.photos.similarity import near_duplicate_of
from cashout_server.domain.photos.store import PhotoRejected
from cashout_server.domain.photos.variants import FORMATS
from cashout_server.ids import new_id
from cashout_server.pagination import Page
from cashout_server.problems import ProblemError, not_found


class PhotoOut(msgspec.Struct, kw_only=True):
    """A photo. ``width``/``height``/``bytes``/``sha256`` describe the cleaned copy served."""

    id: str
    item_id: str
    position: int
    width: int
    height: int
    bytes: int
    sha256: str
    original_format: str
    filename: str | None
    content_url: str
    near_duplicate_of: str | None = None
    """Id of an earlier photo of the same item that looks the same (resized or recompressed): a warning."""
    created_at: datetime


class PhotoUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Move a photo: ``position`` 1 makes it the cover; the others shift to make room."""

    position: Annotated[int, msgspec.Meta(ge=1, le=1000)]


def photo_out(photo: Photo, item_public_id: str, near_duplicate_of: str | None = None) -> PhotoOut:
    """The API view of a photo."""
    return PhotoOut(
        id=photo.public_id,
        item_id=item_public_id,
        position=photo.position,
        width=photo.width,
        height=photo.height,
        bytes=photo.clean_bytes,
        sha256=photo.clean_sha256,
        original_format=photo.original_format,
        filename=photo.filename,
        content_url=f"/api/v1/photos/{photo.public_id}/content",
        near_duplicate_of=near_duplicate_of,
        created_at=photo.created_at,
    )


class PhotoUploadController(Controller):
    """Uploads live on their own router so they get the larger body-size limit."""

    path = "/api/v1/items"
    tags = ["photos"]

    @post("/{item_id:str}/photos", operation_id="uploadPhoto")
    async def upload(
        self,
        runtime: RuntimeDep,
        db: Db,
        item_id: FromPath[str],
        data: MultipartBody[UploadFile],
    ) -> PhotoOut:
        """Upload a photo (multipart field ``data``): JPEG, PNG, WebP or HEIC.

        The original is kept on the server; what is served and sent to platforms is a cleaned
        copy with the orientation applied and all metadata (GPS included) removed.
        ``near_duplicate_of`` names an earlier photo of the item that looks the same.
        """
        item = await load_item(db, item_id)
        content = await data.read()
        try:
            stored = await runtime.photos.ingest(content)
        except PhotoRejected as exc:
            raise ProblemError(415, str(exc), slug="unsupported-photo") from None
        except PhotoWorkerCrashed as exc:
            raise ProblemError(503, str(exc), slug="photo-worker-crashed") from None
        earlier = (
            await db.execute(select(Photo.public_id, Photo.phash).where(Photo.item_id == item.id).order_by(Photo.id))
        ).all()
        last = await db.scalar(select(func.max(Photo.position)).where(Photo.item_id == item.id))
        photo = Photo(
            public_id=new_id("photo"),
            item_id=item.id,
            position=(last or 0) + 1,
            original_sha256=stored.original_sha256,
            original_format=stored.original_format,
            original_bytes=stored.original_bytes,
            clean_sha256=stored.clean_sha256,
            clean_bytes=stored.clean_bytes,
            width=stored.width,
            height=stored.height,
            phash=stored.phash,
            filename=(data.filename or None) and data.filename[:255],
        )
        db.add(photo)
        await db.commit()
        return photo_out(photo, item.public_id, near_duplicate_of(stored.phash, ((p, h) for p, h in earlier)))

    @get("/{item_id:str}/photos", operation_id="listItemPhotos")
    async def list_photos(self, db: Db, item_id: FromPath[str]) -> Page[PhotoOut]:
        """An item's photos in order (never more than one page)."""
        item = await load_item(db, item_id)
        rows = await db.scalars(select(Photo).where(Photo.item_id == item.id).order_by(Photo.position))
        duplicates = await near_duplicates(db, item.id)
        return Page(data=[photo_out(p, item.public_id, duplicates.get(p.id)) for p in rows], next_cursor=None)


async def _photo(db: Db, photo_id: FromPath[str]) -> tuple[Photo, Item]:
    row = (await db.execute(select(Photo, Item).join(Item).where(Photo.public_id == photo_id))).first()
    if row is None:
        raise not_found("photo", photo_id)
    return row


class PhotoController(Controller):
    """Photos by id."""

    path = "/api/v1/photos"
    tags = ["photos"]

    @get("/{photo_id:str}", operation_id="getPhoto")
    async def get_photo(self, db: Db, photo_id: FromPath[str]) -> PhotoOut:
        """One photo's record."""
        photo, item = await _photo(db, photo_id)
        return photo_out(photo, item.public_id, (await near_duplicates(db, item.id)).get(photo.id))

    @get("/{photo_id:str}/content", operation_id="downloadPhoto", media_type="image/jpeg")
    async def download(self, runtime: RuntimeDep, db: Db, photo_id: FromPath[str]) -> File:
        """The cleaned JPEG: orientation applied, no metadata."""
        photo, _ = await _photo(db, photo_id)
        path = runtime.photos.clean_path(photo.clean_sha256)
        if not path.is_file():
            raise ProblemError(410, "the photo file is missing from the data folder", slug="photo-file-missing")
        return File(
            path=path, media_type="image/jpeg", filename=f"{photo.public_id}.jpg", content_disposition_type="inline"
        )

    @patch("/{photo_id:str}", operation_id="updatePhoto")
    async def update_photo(self, db: Db, photo_id: FromPath[str], data: JSONBody[PhotoUpdate]) -> PhotoOut:
        """Reorder an item's photos by moving this one to ``position``."""
        photo, item = await _photo(db, photo_id)
        siblings = list(await db.scalars(select(Photo).where(Photo.item_id == item.id).order_by(Photo.position)))
        siblings.remove(photo)
        siblings.insert(min(data.position, len(siblings) + 1) - 1, photo)
        for number, row in enumerate(siblings, start=1):
            row.position = number
        await db.commit()
        return photo_out(photo, item.public_id, (await near_duplicates(db, item.id)).get(photo.id))

    @delete("/{photo_id:str}", operation_id="deletePhoto")
    async def delete_photo(self, db: Db, photo_id: FromPath[str]) -> None:
        """Remove a photo from its item (files stay while other photos share them)."""
        photo, _ = await _photo(db, photo_id)
        await db.delete(photo)
        await db.commit()


_IMMUTABLE = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {f".{ext}": content_type for ext, content_type in FORMATS.values()}


class MediaController(Controller):
    """Prepared platform photos by content address, without authentication.

    Platforms fetch these themselves (a product feed's ``image_link``), so they cannot send a
    token. The name is a 256-bit hash nobody can guess, the files carry no metadata, and a name's
    content never changes, so caches may keep it forever.
    """

    path = MEDIA_PATH
    tags = ["photos"]

    @get("/{name:str}", operation_id="getMedia", security=[{}])
    async def media(self, runtime: RuntimeDep, name: FromPath[str]) -> File:
        """A prepared photo: ``<64 hex digits>.<jpg|png|webp>``, as linked from what plugins receive."""
        path = runtime.photos.media_path(name)
        if path is None:
            raise ProblemError(
                400, "a media name is 64 lowercase hex digits and .jpg, .png or .webp", slug="bad-media-name"
            )
        if not path.is_file():
            raise not_found("media", name)
        return File(
            path=path,
            media_type=_MEDIA_TYPES[path.suffix],
            filename=name,
            content_disposition_type="inline",
            headers={"Cache-Control": _IMMUTABLE},
        )

"""Photo upload (multipart), listing, download and deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, MultipartBody
from litestar.response import File
from sqlalchemy import func, select

from cashout_server.db.models import Item, Photo
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.items.controllers import load_item
from cashout_server.domain.photos.store import PhotoRejected
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
    created_at: datetime


class PhotoUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Move a photo: ``position`` 1 makes it the cover; the others shift to make room."""

    position: Annotated[int, msgspec.Meta(ge=1, le=1000)]


def photo_out(photo: Photo, item_public_id: str) -> PhotoOut:
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
        """
        item = await load_item(db, item_id)
        content = await data.read()
        try:
            stored = await anyio.to_thread.run_sync(runtime.photos.store, content)
        except PhotoRejected as exc:
            raise ProblemError(415, str(exc), slug="unsupported-photo") from None
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
            filename=(data.filename or None) and data.filename[:255],
        )
        db.add(photo)
        await db.commit()
        return photo_out(photo, item.public_id)

    @get("/{item_id:str}/photos", operation_id="listItemPhotos")
    async def list_photos(self, db: Db, item_id: FromPath[str]) -> Page[PhotoOut]:
        """An item's photos in order (never more than one page)."""
        item = await load_item(db, item_id)
        rows = await db.scalars(select(Photo).where(Photo.item_id == item.id).order_by(Photo.position))
        return Page(data=[photo_out(p, item.public_id) for p in rows], next_cursor=None)


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
        return photo_out(photo, item.public_id)

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
        return photo_out(photo, item.public_id)

    @delete("/{photo_id:str}", operation_id="deletePhoto")
    async def delete_photo(self, db: Db, photo_id: FromPath[str]) -> None:
        """Remove a photo from its item (files stay while other photos share them)."""
        photo, _ = await _photo(db, photo_id)
        await db.delete(photo)
        await db.commit()

"""Photo files on disk: originals, cleaned copies and platform variants, all content-addressed.

Originals are kept exactly as uploaded (they may carry GPS; they never leave the box). Everything
the server serves or hands to a plugin is a derivative: EXIF orientation applied, every metadata
block (EXIF, XMP, IPTC, ICC, comments, text chunks) dropped, re-encoded.

Pillow work runs in worker processes (:class:`~cashout_server.domain.photos.pool.PhotoPool`); the
``async`` methods here are what the API calls, the blocking functions are what the workers run.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from cashout_server.domain.photos.pool import PhotoPool
from cashout_server.domain.photos.similarity import dhash
from cashout_server.domain.photos.variants import (
    HEIF_SUPPORTED,
    MEDIA_NAME,
    VariantFile,
    VariantSpec,
    lookup_cached,
    render_image,
    render_variants,
    variant_path,
    write_atomic,
)
from cashout_server.settings import PhotoSettings

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"} | ({"HEIF"} if HEIF_SUPPORTED else set())
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
_CLEAN_QUALITY = 88


class PhotoRejected(ValueError):
    """The upload is not an image we accept; the message says why in words a person understands."""


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    """What storing one upload produced."""

    original_sha256: str
    original_format: str
    original_bytes: int
    clean_sha256: str
    clean_bytes: int
    width: int
    height: int
    phash: str
    """64-bit difference hash of the cleaned copy, 16 hex digits."""


def _path(root: Path, kind: str, sha256: str, ext: str) -> Path:
    return root / kind / sha256[:2] / f"{sha256}.{ext}"


def _write_once(path: Path, data: bytes) -> None:
    if not path.exists():
        write_atomic(path, data)


def store_upload(root: Path, max_pixels: int, display_max_edge: int, data: bytes) -> StoredPhoto:
    """Validate ``data``, store the original and a cleaned copy; blocking (the workers run it).

    Args:
        root: the photo root.
        max_pixels: largest accepted width x height.
        display_max_edge: longest edge of the cleaned copy.
        data: the uploaded file.

    Raises:
        PhotoRejected: not an image, a format outside the allow-list, too many pixels, or corrupt.
    """
    with warnings.catch_warnings():
        # Pillow warns before it errors on very large images; treat the warning as the error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise PhotoRejected("the file is not an image in a supported format") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise PhotoRejected(f"the image has too many pixels; at most {max_pixels} pixels are accepted") from None
        with img:
            fmt = img.format or ""
            width, height = img.size
            if fmt not in ALLOWED_FORMATS:
                allowed = ", ".join(sorted(ALLOWED_FORMATS))
                raise PhotoRejected(f"{fmt or 'this'} images are not accepted; use one of {allowed}")
            if width * height > max_pixels:
                raise PhotoRejected(f"the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted")
            try:
                [(clean, clean_w, clean_h)] = render_image(
                    img, [VariantSpec(max_edge=display_max_edge, quality=_CLEAN_QUALITY)]
                )
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
                raise PhotoRejected(f"the image could not be decoded: {exc}") from None
    with Image.open(io.BytesIO(clean)) as small:
        small.draft("RGB", (64, 64))  # the hash needs 9x8 pixels: decode the clean copy at 1/8
        phash = dhash(small)
    original_sha = hashlib.sha256(data).hexdigest()
    clean_sha = hashlib.sha256(clean).hexdigest()
    _write_once(_path(root, "originals", original_sha, _EXTENSIONS[fmt]), data)
    _write_once(_path(root, "clean", clean_sha, "jpg"), clean)
    return StoredPhoto(
        original_sha256=original_sha,
        original_format=fmt,
        original_bytes=len(data),
        clean_sha256=clean_sha,
        clean_bytes=len(clean),
        width=clean_w,
        height=clean_h,
        phash=phash,
    )


class PhotoStore:
    """Content-addressed photo files below ``root``, and the worker pool that makes them."""

    def __init__(self, root: Path, settings: PhotoSettings) -> None:
        self.root = root
        self.settings = settings
        self.pool = PhotoPool(settings.workers)

    def original_path(self, sha256: str, fmt: str) -> Path:
        """Where the original with this hash lives."""
        return _path(self.root, "originals", sha256, _EXTENSIONS[fmt])

    def clean_path(self, sha256: str) -> Path:
        """Where the cleaned JPEG with this hash lives."""
        return _path(self.root, "clean", sha256, "jpg")

    def media_path(self, name: str) -> Path | None:
        """The variant file a public media name (``<64 hex>.<ext>``) stands for; ``None`` if malformed.

        Only names of exactly that shape map to a path, so no name can reach outside the
        variants folder.
        """
        match = MEDIA_NAME.fullmatch(name)
        if match is None:
            return None
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[match["ext"]]
        return variant_path(self.root, match["key"], fmt)

    def store(self, data: bytes) -> StoredPhoto:
        """Validate and store an upload in this process; blocking. The API uses :meth:`ingest`.

        Raises:
            PhotoRejected: see :func:`store_upload`.
        """
        return store_upload(self.root, self.settings.max_pixels, self.settings.display_max_edge, data)

    async def ingest(self, data: bytes) -> StoredPhoto:
        """Validate and store an upload in a worker process.

        Raises:
            PhotoRejected: see :func:`store_upload`.
            PhotoWorkerCrashed: the worker died while decoding.
        """
        return await self.pool.run(
            store_upload, self.root, self.settings.max_pixels, self.settings.display_max_edge, data
        )

    async def variants(
        self, original_sha256: str, original_format: str, specs: Sequence[VariantSpec]
    ) -> list[VariantFile]:
        """Every variant of one original, from the cache or made in a worker with one decode.

        Raises:
            FileNotFoundError: the original is missing from the data folder.
            VariantTooLarge: a spec's ``max_bytes`` cannot be met.
            PhotoWorkerCrashed: the worker died while decoding.
        """
        cached = await asyncio.to_thread(lookup_cached, self.root, original_sha256, specs)
        if all(found is not None for found in cached):
            return [found for found in cached if found is not None]
        original = self.original_path(original_sha256, original_format)
        return await self.pool.run(render_variants, self.root, original, original_sha256, list(specs))

    async def close(self) -> None:
        """Stop the worker processes."""
        await self.pool.close()

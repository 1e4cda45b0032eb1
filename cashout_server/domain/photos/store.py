"""Photo files on disk: originals and cleaned copies, both addressed by their SHA-256.

Originals are kept exactly as uploaded (they may carry GPS; they never leave the box). Everything
the server serves or hands to a plugin is a derivative: EXIF orientation applied, every metadata
block (EXIF, XMP, IPTC, ICC comments, text chunks) dropped, re-encoded as JPEG.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from cashout_server.settings import PhotoSettings

try:  # HEIC/HEIF from iPhones, through the maintained pillow-heif decoder, when installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform's wheels
    HEIF_SUPPORTED = False

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"} | ({"HEIF"} if HEIF_SUPPORTED else set())
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}


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


class PhotoStore:
    """Content-addressed photo files below ``root``."""

    def __init__(self, root: Path, settings: PhotoSettings) -> None:
        self.root = root
        self.settings = settings

    def _path(self, kind: str, sha256: str, ext: str) -> Path:
        return self.root / kind / sha256[:2] / f"{sha256}.{ext}"

    def original_path(self, sha256: str, fmt: str) -> Path:
        """Where the original with this hash lives."""
        return self._path("originals", sha256, _EXTENSIONS[fmt])

    def clean_path(self, sha256: str) -> Path:
        """Where the cleaned JPEG with this hash lives."""
        return self._path("clean", sha256, "jpg")

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def store(self, data: bytes) -> StoredPhoto:
        """Validate ``data``, store the original and a cleaned copy; blocking (run in a worker).

        Raises:
            PhotoRejected: not an image, a format outside the allow-list, too many pixels, or corrupt.
        """
        with warnings.catch_warnings():
            # Pillow warns before it errors on very large images; treat the warning as the error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as probe:
                    fmt = probe.format or ""
                    width, height = probe.size
            except UnidentifiedImageError:
                raise PhotoRejected("the file is not an image in a supported format") from None
            except (Image.DecompressionBombWarning, Image.DecompressionBombError):
                raise PhotoRejected(
                    f"the image has too many pixels; at most {self.settings.max_pixels} pixels are accepted"
                ) from None
            if fmt not in ALLOWED_FORMATS:
                allowed = ", ".join(sorted(ALLOWED_FORMATS))
                raise PhotoRejected(f"{fmt or 'this'} images are not accepted; use one of {allowed}")
            if width * height > self.settings.max_pixels:
                raise PhotoRejected(
                    f"the image is {width}x{height} pixels; at most {self.settings.max_pixels} pixels are accepted"
                )
            try:
                clean, clean_size = self._clean(data)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
                raise PhotoRejected(f"the image could not be decoded: {exc}") from None
        original_sha = hashlib.sha256(data).hexdigest()
        clean_sha = hashlib.sha256(clean).hexdigest()
        self._write(self.original_path(original_sha, fmt), data)
        self._write(self.clean_path(clean_sha), clean)
        return StoredPhoto(
            original_sha256=original_sha,
            original_format=fmt,
            original_bytes=len(data),
            clean_sha256=clean_sha,
            clean_bytes=len(clean),
            width=clean_size[0],
            height=clean_size[1],
        )

    def _clean(self, data: bytes) -> tuple[bytes, tuple[int, int]]:
        max_edge = self.settings.display_max_edge
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                # Decode at a reduced scale when the target is much smaller (JPEG draft mode).
                img.draft("RGB", (max_edge, max_edge))
            oriented = ImageOps.exif_transpose(img)
            oriented.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
            rgb = _flatten(oriented)
            out = io.BytesIO()
            # A fresh image carries no EXIF, XMP or ICC unless passed explicitly; none is.
            rgb.save(out, "JPEG", quality=88, optimize=True, progressive=True)
            return out.getvalue(), rgb.size


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    rgb = img.convert("RGB")
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())

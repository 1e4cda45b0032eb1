"""Per-platform photo variants: one decode of the original, every size a platform asks for.

Everything here is blocking Pillow work meant to run in a worker process (see :mod:`.pool`); the
functions sent there are top-level and take and return picklable values.

How one original becomes its variants:

1. Open the original and read its EXIF orientation (without decoding pixels).
2. Work out, for every spec, the size of the photo itself (``content``) and of the padded canvas
   around it, in the orientation the photo is viewed in.
3. Decode once, at the smallest JPEG DCT scale (``draft``) that still covers the largest content
   size needed; formats without draft decoding are decoded at full size.
4. Resize that one decoded image to each content size: first ``reduce()`` by 2, 4 or 8 (shared
   between the specs that need it) when the decoded image is still more than twice too large (PNG,
   WebP, or a JPEG some spec needs at nearly full size), then a Hamming resample for the rest.
5. Per spec: apply the orientation, convert an embedded colour profile to sRGB, optionally
   auto-enhance, pad to the aspect (centred, white), and encode with no metadata at all, lowering
   the quality step by step (then the size) until ``max_bytes`` is met.

Variants are cached below the photo root by a key that hashes the original's SHA-256, the spec and
:data:`PIPELINE_VERSION`; a cached variant is never rewritten, and changing the original or the
spec yields a new key and a new file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, ImageStat

from cashout_server.contract import ListingLimits

try:  # HEIC/HEIF from iPhones, through the maintained pillow-heif decoder, when installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform's wheels
    HEIF_SUPPORTED = False

PIPELINE_VERSION = 1
"""Bump when the output of the same spec changes (resampling, enhance, encoder settings): every
cached variant is then regenerated under a new key."""

FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
"""Formats variants can be written in: extension and content type."""

MEDIA_NAME = re.compile(r"^(?P<key>[0-9a-f]{64})\.(?P<ext>jpg|png|webp)$")
"""A variant's public file name: its 64-hex-digit key and its extension, nothing else."""

_FORMAT_ALIASES = {"JPG": "JPEG"}
_WHITE = (255, 255, 255)
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Quality steps tried when a variant is over max_bytes; below the floor we shrink the image instead.
_QUALITY_STEP = 10
_QUALITY_FLOOR = 40
_SHRINK = 0.85
_MAX_SHRINKS = 12


class VariantTooLarge(ValueError):
    """No quality or size within the spec's limits fits the spec's ``max_bytes``."""


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """What one platform wants a photo to look like.

    Attributes:
        max_edge: longest edge of the output in pixels; larger photos are scaled down.
        min_edge: shortest edge the output must have; smaller photos are scaled up (never beyond
            ``max_edge``) and, if that is not enough, padded.
        aspect: required width:height; the photo is padded (centred, white) to it, never cropped.
        format: ``JPEG``, ``PNG`` or ``WEBP``.
        quality: encoder quality (1-95) for JPEG and WebP.
        max_bytes: largest acceptable file; quality, then size, is lowered until it fits.
        enhance: auto-contrast and gray-world white balance.
    """

    max_edge: int
    min_edge: int | None = None
    aspect: tuple[int, int] | None = None
    format: str = "JPEG"
    quality: int = 85
    max_bytes: int | None = None
    enhance: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unsupported variant format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.max_edge < 1 or not 1 <= self.quality <= 95:
            raise ValueError("max_edge must be positive and quality between 1 and 95")
        if self.aspect is not None and min(self.aspect) < 1:
            raise ValueError("aspect must be two positive integers")

    @classmethod
    def from_limits(cls, limits: ListingLimits, *, enhance: bool = False, default_max_edge: int = 2048) -> VariantSpec:
        """The spec a platform's listing limits ask for.

        Args:
            limits: the platform descriptor's limits.
            enhance: auto-enhance the photos.
            default_max_edge: longest edge when the platform states none.
        """
        max_edge = limits.photo_max_edge or default_max_edge
        min_edge = limits.photo_min_edge
        fmt = next(
            (_FORMAT_ALIASES.get(f.upper(), f.upper()) for f in limits.photo_formats if _known(f)),
            "JPEG",
        )
        return cls(
            max_edge=max_edge,
            min_edge=min(min_edge, max_edge) if min_edge else None,
            aspect=(limits.photo_aspect[0], limits.photo_aspect[1]) if limits.photo_aspect else None,
            format=fmt,
            quality=max(1, min(95, limits.photo_quality)),
            max_bytes=limits.photo_max_bytes,
            enhance=enhance,
        )

    @property
    def extension(self) -> str:
        """File extension of this spec's outputs."""
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        """Media type of this spec's outputs."""
        return FORMATS[self.format][1]

    def key(self, original_sha256: str) -> str:
        """The cache key (64 hex digits) of this spec applied to the original with this hash."""
        canonical = json.dumps(
            {"v": PIPELINE_VERSION, "original": original_sha256, "spec": asdict(self)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _known(fmt: str) -> bool:
    return _FORMAT_ALIASES.get(fmt.upper(), fmt.upper()) in FORMATS


@dataclass(frozen=True, slots=True)
class VariantFile:
    """One variant on disk."""

    key: str
    path: str
    format: str
    width: int
    height: int
    sha256: str
    bytes: int

    @property
    def name(self) -> str:
        """The public file name (``<key>.<ext>``) the media route serves it under."""
        return f"{self.key}.{FORMATS[self.format][0]}"

    @property
    def content_type(self) -> str:
        """Media type of the file."""
        return FORMATS[self.format][1]


def variant_path(root: Path, key: str, fmt: str) -> Path:
    """Where the variant with ``key`` in format ``fmt`` lives below the photo root."""
    return root / "variants" / key[:2] / f"{key}.{FORMATS[fmt][0]}"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the whole file or none (tmp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def lookup_cached(root: Path, original_sha256: str, specs: Sequence[VariantSpec]) -> list[VariantFile | None]:
    """The cached variant for each spec, or ``None`` where there is none yet (blocking file reads)."""
    found: list[VariantFile | None] = []
    for spec in specs:
        key = spec.key(original_sha256)
        path = variant_path(root, key, spec.format)
        try:
            meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found.append(None)
            continue
        # The sidecar is written after the image, so a sidecar means a complete image.
        found.append(
            VariantFile(
                key=key,
                path=str(path),
                format=spec.format,
                width=int(meta["width"]),
                height=int(meta["height"]),
                sha256=str(meta["sha256"]),
                bytes=int(meta["bytes"]),
            )
            if path.is_file()
            else None
        )
    return found


def render_variants(
    root: str | Path, original: str | Path, original_sha256: str, specs: Sequence[VariantSpec]
) -> list[VariantFile]:
    """Make (or find in the cache) every variant of one original; blocking, meant for a worker process.

    The original is decoded at most once, and not at all when every variant is cached.

    Args:
        root: the photo root; variants go below ``root/variants``.
        original: path of the original file.
        original_sha256: the original's SHA-256 (part of each variant's cache key).
        specs: what to make, in any order; the result has the same order.

    Raises:
        FileNotFoundError: the original is missing.
        VariantTooLarge: a spec's ``max_bytes`` cannot be met.
    """
    root = Path(root)
    result = lookup_cached(root, original_sha256, specs)
    missing = [i for i, found in enumerate(result) if found is None]
    if not missing:
        return [found for found in result if found is not None]
    with Image.open(original) as img:
        encoded = render_image(img, [specs[i] for i in missing])
    for i, (data, width, height) in zip(missing, encoded, strict=True):
        spec = specs[i]
        key = spec.key(original_sha256)
        path = variant_path(root, key, spec.format)
        sha = hashlib.sha256(data).hexdigest()
        write_atomic(path, data)
        meta = {"width": width, "height": height, "sha256": sha, "bytes": len(data), "format": spec.format}
        write_atomic(_sidecar(path), json.dumps(meta).encode())
        result[i] = VariantFile(
            key=key, path=str(path), format=spec.format, width=width, height=height, sha256=sha, bytes=len(data)
        )
    return [found for found in result if found is not None]


@dataclass(frozen=True, slots=True)
class _Plan:
    scale: float
    content: tuple[int, int]
    canvas: tuple[int, int]


def _aspect_box(width: float, height: float, aspect: tuple[int, int] | None) -> tuple[float, float]:
    """The smallest box of ``aspect`` around ``width`` x ``height``."""
    if aspect is None:
        return width, height
    aw, ah = aspect
    if width * ah >= height * aw:
        return width, width * ah / aw
    return height * aw / ah, height


def plan(width: int, height: int, spec: VariantSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """Content and canvas size of ``spec`` applied to a photo seen as ``width`` x ``height``.

    Returns:
        ``((content_w, content_h), (canvas_w, canvas_h))``: the scaled photo and the padded output.
    """
    p = _plan(width, height, spec)
    return p.content, p.canvas


def _plan(width: int, height: int, spec: VariantSpec) -> _Plan:
    box_w, box_h = _aspect_box(width, height, spec.aspect)
    fit = spec.max_edge / max(box_w, box_h)
    scale = min(1.0, fit)
    if spec.min_edge and min(box_w, box_h) * scale < spec.min_edge:
        # Upscale only as far as needed for min_edge, and never past max_edge.
        scale = max(scale, min(spec.min_edge / min(box_w, box_h), fit))
    content = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas_w, canvas_h = (round(v) for v in _aspect_box(*content, spec.aspect))
    if spec.min_edge:
        canvas_w, canvas_h = max(canvas_w, spec.min_edge), max(canvas_h, spec.min_edge)
    canvas = (
        max(content[0], min(canvas_w, spec.max_edge)),
        max(content[1], min(canvas_h, spec.max_edge)),
    )
    return _Plan(scale=scale, content=content, canvas=canvas)


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation (1-8) of ``img``; 1 when absent or invalid."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError):  # a broken EXIF block is ignored, not fatal
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def render_image(img: Image.Image, specs: Sequence[VariantSpec]) -> list[tuple[bytes, int, int]]:
    """Encode every spec from ``img``, decoding it once; ``img`` must be opened but not yet loaded.

    Returns:
        ``(encoded bytes, width, height)`` per spec, in the order given.

    Raises:
        VariantTooLarge: a spec's ``max_bytes`` cannot be met.
    """
    orientation = orientation_of(img)
    rotated = orientation in (5, 6, 7, 8)
    stored_w, stored_h = img.size
    seen_w, seen_h = (stored_h, stored_w) if rotated else (stored_w, stored_h)
    plans = [_plan(seen_w, seen_h, spec) for spec in specs]
    largest = max(p.scale for p in plans)
    if img.format == "JPEG" and largest < 1:
        # DCT-domain downscaling: decode at 1/2, 1/4 or 1/8 when that still covers the largest need.
        img.draft("RGB", (math.ceil(stored_w * largest), math.ceil(stored_h * largest)))
    img.load()
    icc = img.info.get("icc_profile")
    base = _flatten(img)
    base.info = {}  # derived images copy info; nothing of the original's metadata may reach them

    targets = [(p.content[1], p.content[0]) if rotated else p.content for p in plans]
    uses = Counter(targets)
    shared: dict[tuple[int, int], Image.Image] = {}  # specs of the same size (no own limits) share one
    reduced = {1: base}
    out: list[tuple[bytes, int, int]] = []
    for spec, p, target in zip(specs, plans, targets, strict=True):
        photo = shared.get(target)
        if photo is None:
            factor = _reduction(base.size, target)
            if factor not in reduced:
                reduced[factor] = base.reduce(factor)
            photo = reduced[factor]
            if photo.size != target:
                # What is left to scale after draft or reduce() is under 2x, where Hamming looks
                # like bicubic at two thirds of the cost.
                resample = Image.Resampling.HAMMING if target[0] < photo.width else Image.Resampling.BICUBIC
                photo = photo.resize(target, resample)
            if orientation != 1:
                photo = photo.transpose(_TRANSPOSE[orientation])
            if icc:
                photo = _to_srgb(photo, icc)
        uses[target] -= 1
        if uses[target]:
            shared[target] = photo
        else:
            shared.pop(target, None)
        if spec.enhance:
            photo = enhance(photo)
        out.append(_encode(_pad(photo, p.canvas), spec))
    return out


def _reduction(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The largest of 1, 2, 4, 8 that shrinks ``size`` without going below ``target`` (as draft does)."""
    factor = 1
    while factor < 8 and all(-(-edge // (factor * 2)) >= need for edge, need in zip(size, target, strict=True)):
        factor *= 2
    return factor


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits before the RGB conversion (which would clip).
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded colour profile (Display P3 on iPhones) so colours survive stripping it."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return img
        converted = ImageCms.profileToProfile(img, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):  # a broken profile is dropped, not fatal
        return img
    if converted is None:  # pragma: no cover - only when converting in place
        return img
    converted.info = {}
    return converted


def enhance(img: Image.Image) -> Image.Image:
    """Gray-world white balance, then auto-contrast on luminance (1 % cutoff); deterministic.

    Gains are limited to 0.8-1.25 so a photo that really is mostly one colour is not turned gray.
    """
    means = ImageStat.Stat(img).mean[:3]
    gray = sum(means) / 3
    lut: list[int] = []
    for mean in means:
        gain = min(1.25, max(0.8, gray / mean)) if mean > 0 else 1.0
        lut.extend(min(255, round(v * gain)) for v in range(256))
    balanced = img.point(lut)
    return ImageOps.autocontrast(balanced, cutoff=1, preserve_tone=True)


def _pad(img: Image.Image, canvas: tuple[int, int]) -> Image.Image:
    if img.size == canvas:
        return img
    out = Image.new("RGB", canvas, _WHITE)
    out.paste(img, ((canvas[0] - img.width) // 2, (canvas[1] - img.height) // 2))
    return out


def _encode_once(img: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    img.info = {}  # what the encoders could copy from (comments, ICC, EXIF, XMP, text chunks)
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=quality, optimize=True)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=quality, method=4)
    else:
        img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _encode(img: Image.Image, spec: VariantSpec) -> tuple[bytes, int, int]:
    quality = spec.quality
    data = _encode_once(img, spec.format, quality)
    if spec.max_bytes is None or len(data) <= spec.max_bytes:
        return data, img.width, img.height
    lossy = spec.format != "PNG"
    while lossy and quality > _QUALITY_FLOOR:
        quality = max(_QUALITY_FLOOR, quality - _QUALITY_STEP)
        data = _encode_once(img, spec.format, quality)
        if len(data) <= spec.max_bytes:
            return data, img.width, img.height
    smallest = spec.min_edge or 1
    for _ in range(_MAX_SHRINKS):
        size = (max(1, round(img.width * _SHRINK)), max(1, round(img.height * _SHRINK)))
        if min(size) < smallest:
            break
        img = img.resize(size, Image.Resampling.HAMMING)
        data = _encode_once(img, spec.format, quality)
        if len(data) <= spec.max_bytes:
            return data, img.width, img.height
    raise VariantTooLarge(f"the photo does not fit in {spec.max_bytes} bytes as {spec.format}")

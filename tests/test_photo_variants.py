"""Platform photo variants: sizes, padding, orientation, metadata, max_bytes, cache, pool, dHash."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFilter, ImageStat, JpegImagePlugin

from cashout_server.contract import ListingLimits
from cashout_server.domain.photos.pool import PhotoPool, PhotoWorkerCrashed
from cashout_server.domain.photos.similarity import NEAR_DUPLICATE_DISTANCE, dhash, distance, near_duplicate_of
from cashout_server.domain.photos.variants import (
    PIPELINE_VERSION,
    VariantSpec,
    VariantTooLarge,
    enhance,
    plan,
    render_variants,
)

MAKER = "PhoneMaker"


def scene(seed: int, width: int = 800, height: int = 600) -> Image.Image:
    """Something photo-like: a gradient with blurred coloured blocks (flat images all hash alike)."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(60 + y * 150 // height, 80, 200 - y * 120 // height))
    for _ in range(25):
        x, y = rnd.randrange(width), rnd.randrange(height)
        box = [x, y, x + rnd.randrange(width // 20, width // 3), y + rnd.randrange(height // 15, height // 2)]
        draw.rectangle(box, fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    return img.filter(ImageFilter.GaussianBlur(2))


def phone_jpeg(path: Path, width: int = 1200, height: int = 800, *, icc: bool = True) -> Path:
    """A JPEG as a phone writes it: sideways pixels plus orientation 6, GPS, a maker, an ICC profile.

    The left half is blue and the right half red, so after rotating 90 degrees clockwise for display
    blue is on top.
    """
    img = Image.new("RGB", (width, height), (220, 20, 20))
    img.paste((20, 20, 220), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = MAKER
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (40.0, 42.0, 51.0), 3: "W", 4: (74.0, 0.0, 21.0)})
    extra = {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()} if icc else {}
    img.save(path, "JPEG", quality=92, exif=exif, comment=b"secret comment", **extra)
    return path


def assert_clean(path: str | Path) -> None:
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif(), "no EXIF (so no GPS)"
        assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"} & set(img.info), img.info
    assert MAKER.encode() not in data and b"secret comment" not in data and b"Exif\x00\x00" not in data


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render(tmp_path: Path, original: Path, *specs: VariantSpec) -> list[tuple[Path, Image.Image]]:
    files = render_variants(tmp_path / "photos", original, sha(original), specs)
    return [(Path(f.path), loaded(f.path)) for f in files]


def loaded(path: str | Path | io.BytesIO) -> Image.Image:
    with Image.open(path) as img:
        img.load()
    return img


# --- sizes, padding, orientation, metadata ------------------------------------------------------


def test_each_platform_gets_its_size_orientation_applied_and_no_metadata(tmp_path: Path) -> None:
    original = phone_jpeg(tmp_path / "phone.jpg")  # 1200x800 stored, seen as 800x1200
    square = VariantSpec(max_edge=600, min_edge=300, aspect=(1, 1))
    plain = VariantSpec(max_edge=450)
    webp = VariantSpec(max_edge=300, format="WEBP", quality=70)
    (sq_path, sq), (pl_path, pl), (wp_path, wp) = render(tmp_path, original, square, plain, webp)
    assert sq.size == (600, 600) and pl.size == (300, 450) and wp.size == (200, 300)
    assert sq.format == "JPEG" and wp.format == "WEBP" and wp_path.suffix == ".webp"
    # Orientation: blue (the stored left half) is on top once displayed.
    for img in (sq, pl):
        top, bottom = (
            img.getpixel((img.width // 2, img.height // 4)),
            img.getpixel((img.width // 2, 3 * img.height // 4)),
        )
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[2] > 150 > top[0] and bottom[0] > 150 > bottom[2]
    # Padding: the 400x600 photo is centred on a white 600x600 square; the sides are white.
    for x in (5, 95, 505, 595):
        pixel = sq.getpixel((x, 300))
        assert isinstance(pixel, tuple) and min(pixel) > 245, (x, pixel)
    pixel = sq.getpixel((300, 100))
    assert isinstance(pixel, tuple) and pixel[2] > 150
    for path in (sq_path, pl_path, wp_path):
        assert_clean(path)


def test_png_alpha_is_flattened_onto_white_and_small_photos_are_not_upscaled(tmp_path: Path) -> None:
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    img.paste((0, 160, 0, 255), (100, 50, 200, 150))
    img.save(tmp_path / "cut-out.png", pnginfo=None)
    [(path, out)] = render(tmp_path, tmp_path / "cut-out.png", VariantSpec(max_edge=1600))
    assert out.size == (300, 200), "never upscaled without a min_edge"
    assert out.mode == "RGB" and path.suffix == ".jpg"
    corner, middle = out.getpixel((5, 5)), out.getpixel((150, 100))
    assert isinstance(corner, tuple) and isinstance(middle, tuple)
    assert min(corner) > 245, "transparent became white, not black"
    assert middle[1] > 120 and middle[0] < 60


def test_min_edge_upscales_only_as_far_as_needed_then_pads(tmp_path: Path) -> None:
    scene(1, 200, 100).save(tmp_path / "small.jpg", quality=90)
    [(_, square)] = render(tmp_path, tmp_path / "small.jpg", VariantSpec(max_edge=2048, min_edge=500, aspect=(1, 1)))
    assert square.size == (500, 500)
    top = square.getpixel((250, 50))
    assert isinstance(top, tuple) and min(top) > 245, "the 500x250 photo is padded above and below"
    # A long thin photo: scaling up to min_edge would pass max_edge, so the short side is padded.
    scene(2, 1000, 100).save(tmp_path / "thin.jpg", quality=90)
    [(_, thin)] = render(tmp_path, tmp_path / "thin.jpg", VariantSpec(max_edge=800, min_edge=200))
    assert thin.size == (800, 200)


def test_plan_keeps_within_max_edge_for_every_aspect() -> None:
    for width, height in [(4000, 3000), (3000, 4000), (1001, 999), (5000, 100), (100, 5000)]:
        for aspect in [None, (1, 1), (4, 3), (3, 4), (16, 9)]:
            spec = VariantSpec(max_edge=1080, min_edge=320, aspect=aspect)
            content, canvas = plan(width, height, spec)
            assert max(canvas) <= 1080 and canvas[0] >= content[0] and canvas[1] >= content[1]
            if aspect and min(content) >= 20:
                assert abs(canvas[0] / canvas[1] - aspect[0] / aspect[1]) < 0.01


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def swapped_rgb_profile() -> bytes:
    """A minimal ICC v2 RGB profile whose red and blue primaries are sRGB's blue and red."""
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    xyz = {b"rXYZ": blue, b"gXYZ": green, b"bXYZ": red, b"wtpt": (0.9642, 1.0, 0.8249)}
    text = b"Swapped primaries\0"
    tags = {b"desc": b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(12 + 67)}
    tags |= {sig: b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in value) for sig, value in xyz.items()}
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2
    tags |= {b"rTRC": curve, b"gTRC": curve, b"bTRC": curve}
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, data in tags.items():
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += bytes(12) + b"acsp" + bytes(4 + 4 + 4 + 4 + 8 + 4) + b"".join(_s15(c) for c in xyz[b"wtpt"])
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def test_a_colour_profile_is_converted_to_srgb_then_dropped(tmp_path: Path) -> None:
    # In this profile the first channel is blue: a photo that stores (200, 20, 20) shows blue.
    Image.new("RGB", (400, 300), (200, 20, 20)).save(tmp_path / "wide.jpg", icc_profile=swapped_rgb_profile())
    [(path, out)] = render(tmp_path, tmp_path / "wide.jpg", VariantSpec(max_edge=300))
    assert out.size == (300, 225) and out.mode == "RGB"
    pixel = out.getpixel((150, 110))
    assert isinstance(pixel, tuple) and pixel[2] > 150 > pixel[0], pixel
    assert_clean(path)
    # A broken profile is dropped, not fatal.
    scene(3, 200, 150).save(tmp_path / "broken.jpg", icc_profile=b"not a profile at all")
    [(broken, _)] = render(tmp_path, tmp_path / "broken.jpg", VariantSpec(max_edge=100))
    assert_clean(broken)


# --- one decode, draft mode ---------------------------------------------------------------------


def test_original_is_decoded_once_at_the_smallest_scale_that_covers_every_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene(4, 2400, 1800).save(tmp_path / "big.jpg", quality=90)
    decoded: list[tuple[int, int]] = []
    real_load = JpegImagePlugin.JpegImageFile.load

    def load(self: JpegImagePlugin.JpegImageFile) -> object:
        if self.tile and Path(getattr(self, "filename", "")).name == "big.jpg":  # a decode, not a no-op reload
            decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    specs = [VariantSpec(max_edge=1000), VariantSpec(max_edge=800, aspect=(1, 1)), VariantSpec(max_edge=600)]
    outs = render(tmp_path, tmp_path / "big.jpg", *specs)
    assert [img.size for _, img in outs] == [(1000, 750), (800, 800), (600, 450)]
    assert decoded == [(1200, 900)], "one decode, at 1/2 scale (DCT draft) rather than 2400x1800"
    # Everything cached: the original is not opened at all.
    decoded.clear()
    render(tmp_path, tmp_path / "big.jpg", *specs)
    assert decoded == []


def test_platforms_wanting_the_same_size_share_one_resize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scene(6, 1600, 1200).save(tmp_path / "photo.png")
    sizes: list[tuple[int, int]] = []
    real_resize = Image.Image.resize

    def resize(self: Image.Image, size: tuple[int, int], *args: object, **kwargs: object) -> Image.Image:
        sizes.append(tuple(size))  # type: ignore[arg-type]
        return real_resize(self, size, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "resize", resize)
    specs = [VariantSpec(max_edge=700, quality=q) for q in (90, 80)] + [VariantSpec(max_edge=700, aspect=(1, 1))]
    outs = render(tmp_path, tmp_path / "photo.png", *specs)
    assert [img.size for _, img in outs] == [(700, 525), (700, 525), (700, 700)]
    assert sizes == [(700, 525)], "one resize (after a 2x reduce) for all three"


# --- max_bytes, enhance ------------------------------------------------------------------------


def noisy_jpeg(path: Path, size: tuple[int, int] = (1200, 900)) -> Path:
    Image.effect_noise(size, 90).convert("RGB").save(path, quality=95)
    return path


def test_max_bytes_lowers_quality_until_the_file_fits(tmp_path: Path) -> None:
    original = noisy_jpeg(tmp_path / "noise.jpg")
    [(free_path, _)] = render(tmp_path, original, VariantSpec(max_edge=1000, quality=90))
    limit = free_path.stat().st_size * 2 // 3
    [(path, img)] = render(tmp_path, original, VariantSpec(max_edge=1000, quality=90, max_bytes=limit))
    assert path.stat().st_size <= limit
    assert img.size == (1000, 750), "lower quality first, the size only when that is not enough"
    [(tiny_path, tiny)] = render(tmp_path, original, VariantSpec(max_edge=1000, quality=90, max_bytes=40_000))
    assert tiny_path.stat().st_size <= 40_000 and tiny.width < 1000
    assert_clean(tiny_path)


def test_impossible_max_bytes_is_an_error(tmp_path: Path) -> None:
    original = noisy_jpeg(tmp_path / "noise.jpg", (600, 600))
    with pytest.raises(VariantTooLarge):
        render(tmp_path, original, VariantSpec(max_edge=600, min_edge=500, max_bytes=2_000))


def test_enhance_balances_a_colour_cast_and_stretches_contrast_deterministically(tmp_path: Path) -> None:
    dull = Image.eval(scene(5), lambda v: 90 + v // 3)  # low contrast
    r, g, b = dull.split()
    cast = Image.merge("RGB", (r.point(lambda v: min(255, v + 25)), g, b.point(lambda v: max(0, v - 20))))
    out = enhance(cast)
    before, after = ImageStat.Stat(cast), ImageStat.Stat(out)
    assert max(after.mean) - min(after.mean) < max(before.mean) - min(before.mean), "closer to neutral"
    assert (after.extrema[0][1] - after.extrema[0][0]) > (before.extrema[0][1] - before.extrema[0][0]) + 30
    assert enhance(cast).tobytes() == out.tobytes()
    cast.save(tmp_path / "cast.jpg", quality=92)
    plain, enhanced = render(
        tmp_path, tmp_path / "cast.jpg", VariantSpec(max_edge=800), VariantSpec(max_edge=800, enhance=True)
    )
    assert plain[0] != enhanced[0], "enhance is part of the cache key"


# --- the cache ---------------------------------------------------------------------------------


def test_cache_hit_does_not_rewrite_and_changed_inputs_make_new_files(tmp_path: Path) -> None:
    original = phone_jpeg(tmp_path / "phone.jpg")
    spec = VariantSpec(max_edge=500)
    [(path, _)] = render(tmp_path, original, spec)
    first = path.stat()
    [(again, _)] = render(tmp_path, original, spec)
    second = again.stat()
    assert again == path and (second.st_ino, second.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    [(other, _)] = render(tmp_path, original, VariantSpec(max_edge=500, quality=70))
    assert other != path and other.is_file()
    changed = phone_jpeg(tmp_path / "changed.jpg", 1000, 800)
    [(third, _)] = render(tmp_path, changed, spec)
    assert third not in (path, other)
    assert path.is_file() and path.stat().st_mtime_ns == first.st_mtime_ns
    assert not list((tmp_path / "photos").rglob("*.tmp")), "no temporary files left behind"
    assert spec.key("a" * 64) != VariantSpec(max_edge=500).key("b" * 64)
    assert PIPELINE_VERSION >= 1


def test_spec_from_platform_limits() -> None:
    limits = ListingLimits(
        photo_max_edge=2048,
        photo_min_edge=500,
        photo_aspect=(1, 1),
        photo_formats=("webp", "JPEG"),
        photo_quality=80,
        photo_max_bytes=8_000_000,
    )
    spec = VariantSpec.from_limits(limits, enhance=True)
    assert spec == VariantSpec(
        max_edge=2048, min_edge=500, aspect=(1, 1), format="WEBP", quality=80, max_bytes=8_000_000, enhance=True
    )
    fallback = VariantSpec.from_limits(ListingLimits(photo_formats=("HEIC", "jpg")), default_max_edge=1200)
    assert (fallback.format, fallback.max_edge, fallback.min_edge, fallback.aspect) == ("JPEG", 1200, None, None)
    assert VariantSpec.from_limits(ListingLimits(photo_formats=("GIF",))).format == "JPEG"
    with pytest.raises(ValueError, match="format"):
        VariantSpec(max_edge=10, format="GIF")


# --- the pool ----------------------------------------------------------------------------------


async def test_work_runs_in_another_process_and_a_crash_does_not_break_the_pool(tmp_path: Path) -> None:
    pool = PhotoPool(1)
    try:
        assert not pool.started
        worker = await pool.run(os.getpid)
        assert worker != os.getpid() and pool.started
        original = phone_jpeg(tmp_path / "phone.jpg")
        [made] = await pool.run(
            render_variants, tmp_path / "photos", original, sha(original), [VariantSpec(max_edge=300)]
        )
        assert (made.width, made.height) == (200, 300)
        with pytest.raises(PhotoWorkerCrashed):
            await pool.run(os._exit, 3)
        assert await pool.run(os.getpid) not in (worker, os.getpid()), "a fresh worker took over"
    finally:
        await pool.close()
    assert not pool.started


_ABANDON_POOL = """
import asyncio, os
from multiprocessing import forkserver
from cashout_server.domain.photos.pool import PhotoPool

async def main():
    pool = PhotoPool(2)
    pids = await asyncio.gather(*(pool.run(os.getpid) for _ in range(4)))
    print(*sorted(set(pids)), forkserver._forkserver._forkserver_pid, flush=True)
    os._exit(0)  # as a killed server would: the pool is never shut down

if __name__ == "__main__":
    asyncio.run(main())
"""


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc")
def test_workers_and_forkserver_end_when_the_server_dies_without_closing_the_pool(tmp_path: Path) -> None:
    script = tmp_path / "abandon.py"
    script.write_text(_ABANDON_POOL)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) >= 2
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _running(pid)], "no orphaned worker or forkserver"


# --- near duplicates ----------------------------------------------------------------------------


def _recompressed(img: Image.Image, scale: float, quality: int) -> Image.Image:
    out = io.BytesIO()
    img.resize((round(img.width * scale), round(img.height * scale))).save(out, "JPEG", quality=quality)
    return loaded(out)


@pytest.mark.parametrize("seed", range(6))
def test_dhash_flags_the_same_photo_resized_and_recompressed_but_not_another(seed: int) -> None:
    photo = scene(seed)
    same = _recompressed(photo, 0.5, 60)
    other = scene(seed + 100)
    assert distance(dhash(photo), dhash(same)) <= 3
    assert distance(dhash(photo), dhash(other)) > NEAR_DUPLICATE_DISTANCE + 5
    assert near_duplicate_of(dhash(same), [("other", dhash(other)), ("photo", dhash(photo))]) == "photo"
    assert near_duplicate_of(dhash(other), [("photo", dhash(photo)), ("none", None)]) is None
    assert near_duplicate_of(None, [("photo", dhash(photo))]) is None
    assert len(dhash(photo)) == 16

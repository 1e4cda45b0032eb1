"""Photos: formats, size cap, bombs, content addressing, EXIF orientation applied and stripped."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select

from cashout_server.contract import ListingLimits
from cashout_server.db.models import Item, Photo
from cashout_server.domain.photos.services import PhotoFileMissing, platform_photo_sets, platform_photos
from cashout_server.runtime import Runtime

Client = AsyncTestClient[Litestar]


def _jpeg_with_gps_and_rotation(width: int = 120, height: int = 60) -> bytes:
    img = Image.new("RGB", (width, height), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, width // 2, height))  # left half blue: shows where "left" ends up
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (40.0, 42.0, 51.0)
    gps[3] = "W"
    gps[4] = (74.0, 0.0, 21.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _png(width: int = 50, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 255, 0, 128)).save(out, "PNG")
    return out.getvalue()


async def _item(api: Client) -> str:
    r = await api.post("/api/v1/items", json={"title": "Chair", "list_price_minor": 4000})
    return str(r.json()["id"])


async def _upload(api: Client, item_id: str, data: bytes, name: str = "p.jpg") -> object:
    return await api.post(f"/api/v1/items/{item_id}/photos", files={"data": (name, data, "application/octet-stream")})


async def test_upload_applies_orientation_and_strips_all_metadata(api: Client, runtime: Runtime) -> None:
    item_id = await _item(api)
    raw = _jpeg_with_gps_and_rotation()
    r = await _upload(api, item_id, raw)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    photo = r.json()  # type: ignore[attr-defined]
    assert (photo["width"], photo["height"]) == (60, 120), "EXIF orientation applied"
    content = await api.get(photo["content_url"])
    assert content.status_code == 200 and content.headers["content-type"] == "image/jpeg"
    served = Image.open(io.BytesIO(content.content))
    assert served.size == (60, 120)
    assert not served.getexif(), "no EXIF (and so no GPS) in what the server serves"
    assert "exif" not in served.info and "icc_profile" not in served.info and "xmp" not in served.info
    assert b"PhoneMaker" not in content.content
    # After rotating 90 degrees clockwise, the blue left half is on top.
    top, bottom = served.getpixel((30, 10)), served.getpixel((30, 110))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[2] > 150 and bottom[0] > 150
    # The original is kept as uploaded, addressed by its hash.
    originals = list((runtime.settings.data_dir / "photos" / "originals").rglob("*.jpg"))
    assert len(originals) == 1 and originals[0].read_bytes() == raw


async def test_same_photo_twice_is_stored_once(api: Client, runtime: Runtime) -> None:
    item_id = await _item(api)
    png = _png()
    first = (await _upload(api, item_id, png, "a.png")).json()  # type: ignore[attr-defined]
    second = (await _upload(api, item_id, png, "b.png")).json()  # type: ignore[attr-defined]
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert [p["position"] for p in (await api.get(f"/api/v1/items/{item_id}/photos")).json()["data"]] == [1, 2]
    files = list(Path(runtime.settings.data_dir / "photos" / "clean").rglob("*.jpg"))  # noqa: ASYNC240
    assert len(files) == 1
    item = (await api.get(f"/api/v1/items/{item_id}")).json()
    assert item["photo_count"] == 2


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"this is not an image at all", "not an image"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "not an image"),
    ],
)
async def test_unsupported_files_are_415(api: Client, data: bytes, why: str) -> None:
    item_id = await _item(api)
    r = await _upload(api, item_id, data)
    assert r.status_code == 415  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]


async def test_gif_is_refused_by_name(api: Client) -> None:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    r = await _upload(api, await _item(api), out.getvalue(), "x.gif")
    assert r.status_code == 415 and "GIF" in r.json()["detail"]  # type: ignore[attr-defined]


async def test_decompression_bomb_is_refused(api: Client) -> None:
    # 12000 x 12000 = 144 Mpx of one colour compresses to a tiny PNG.
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG", optimize=True)
    assert len(out.getvalue()) < 1_000_000
    r = await _upload(api, await _item(api), out.getvalue(), "bomb.png")
    assert r.status_code == 415  # type: ignore[attr-defined]
    assert "pixels" in r.json()["detail"]  # type: ignore[attr-defined]


async def test_oversize_upload_is_413_before_reading(api: Client, runtime: Runtime) -> None:
    cap = runtime.settings.photos.max_upload_bytes
    r = await api.post(
        f"/api/v1/items/{await _item(api)}/photos",
        content=b"x" * 100,
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(cap + 1)},
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_delete_photo(api: Client) -> None:
    item_id = await _item(api)
    photo = (await _upload(api, item_id, _png())).json()  # type: ignore[attr-defined]
    assert (await api.delete(f"/api/v1/photos/{photo['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/photos/{photo['id']}")).status_code == 404


async def test_heic_from_a_phone_is_accepted(api: Client) -> None:
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC needs the pillow-heif decoder")
    img = Image.new("RGB", (64, 48), (10, 200, 10))
    heif = pillow_heif.from_pillow(img)
    out = io.BytesIO()
    heif.save(out, quality=80)
    r = await _upload(api, await _item(api), out.getvalue(), "IMG_0001.HEIC")
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    photo = r.json()  # type: ignore[attr-defined]
    assert photo["original_format"] == "HEIF" and (photo["width"], photo["height"]) == (64, 48)
    served = Image.open(io.BytesIO((await api.get(photo["content_url"])).content))
    assert served.format == "JPEG"


async def test_reorder_photos(api: Client) -> None:
    item_id = await _item(api)
    ids = [(await _upload(api, item_id, _png(10 + n, 10))).json()["id"] for n in range(3)]  # type: ignore[attr-defined]
    r = await api.patch(f"/api/v1/photos/{ids[2]}", json={"position": 1})
    assert r.status_code == 200 and r.json()["position"] == 1
    order = [p["id"] for p in (await api.get(f"/api/v1/items/{item_id}/photos")).json()["data"]]
    assert order == [ids[2], ids[0], ids[1]]
    r = await api.patch(f"/api/v1/photos/{ids[2]}", json={"position": 99})
    order = [p["id"] for p in (await api.get(f"/api/v1/items/{item_id}/photos")).json()["data"]]
    assert order == [ids[0], ids[1], ids[2]], "a position past the end moves it last"
    assert (await api.patch(f"/api/v1/photos/{ids[0]}", json={"position": 0})).status_code == 400


# --- worker processes, near duplicates, platform variants and the public media route -------------


def _scene(seed: int, width: int = 800, height: int = 600) -> Image.Image:
    """Something photo-like: a gradient with blurred coloured blocks."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(60 + y * 150 // height, 80, 200 - y * 120 // height))
    for _ in range(25):
        x, y = rnd.randrange(width), rnd.randrange(height)
        box = [x, y, x + rnd.randrange(40, 260), y + rnd.randrange(40, 300)]
        draw.rectangle(box, fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    return img.filter(ImageFilter.GaussianBlur(2))


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


async def test_upload_decodes_in_a_worker_process_never_on_the_event_loop(
    api: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pillow_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was called in the API process")

    monkeypatch.setattr(Image, "open", no_pillow_here)
    r = await _upload(api, await _item(api), _jpeg_with_gps_and_rotation())
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert (r.json()["width"], r.json()["height"]) == (60, 120)  # type: ignore[attr-defined]
    assert runtime.photos.pool.started


async def test_near_duplicates_are_flagged_not_refused(api: Client) -> None:
    item_id = await _item(api)
    photo = _scene(1)
    first = (await _upload(api, item_id, _jpeg(photo))).json()  # type: ignore[attr-defined]
    assert first["near_duplicate_of"] is None
    smaller = photo.resize((400, 300))
    again = await _upload(api, item_id, _jpeg(smaller, quality=60), "IMG_0002.jpg")
    assert again.status_code == 201  # type: ignore[attr-defined]
    assert again.json()["near_duplicate_of"] == first["id"]  # type: ignore[attr-defined]
    other = (await _upload(api, item_id, _jpeg(_scene(2)))).json()  # type: ignore[attr-defined]
    assert other["near_duplicate_of"] is None
    listed = (await api.get(f"/api/v1/items/{item_id}/photos")).json()["data"]
    assert [p["near_duplicate_of"] for p in listed] == [None, first["id"], None]
    again_id = again.json()["id"]  # type: ignore[attr-defined]
    assert (await api.get(f"/api/v1/photos/{again_id}")).json()["near_duplicate_of"] == first["id"]
    # The earliest photo is the one kept in mind: moving the copy first does not flag the original.
    moved = await api.patch(f"/api/v1/photos/{again_id}", json={"position": 1})
    assert moved.json()["near_duplicate_of"] == first["id"]
    assert (await api.get(f"/api/v1/photos/{first['id']}")).json()["near_duplicate_of"] is None


async def _item_photos(runtime: Runtime, item_public_id: str) -> list[Photo]:
    async with runtime.session() as session:
        item = await session.scalar(select(Item).where(Item.public_id == item_public_id))
        assert item is not None
        return list(await session.scalars(select(Photo).where(Photo.item_id == item.id)))


async def test_platform_photos_are_sized_for_the_platform_and_served_publicly(
    api: Client, runtime: Runtime, app: Litestar
) -> None:
    item_id = await _item(api)
    ids = [
        (await _upload(api, item_id, data, name)).json()["id"]  # type: ignore[attr-defined]
        for data, name in [
            (_jpeg(_scene(3)), "a.jpg"),
            (_jpeg_with_gps_and_rotation(240, 120), "b.jpg"),
            (_png(), "c.png"),
        ]
    ]
    await api.patch(f"/api/v1/photos/{ids[1]}", json={"position": 1})
    photos = await _item_photos(runtime, item_id)
    limits = ListingLimits(photo_max_count=2, photo_max_edge=400, photo_min_edge=300, photo_aspect=(1, 1))
    refs = await platform_photos(runtime.photos, photos, limits, public_base_url="https://shop.example/")
    assert [ref.id for ref in refs] == [ids[1], ids[0]], "position order, at most photo_max_count"
    # The small photo is scaled up only as far as min_edge; the large one down to max_edge.
    assert [(ref.width, ref.height, ref.content_type) for ref in refs] == [
        (300, 300, "image/jpeg"),
        (400, 400, "image/jpeg"),
    ]
    assert all(ref.url and ref.url.startswith("https://shop.example/media/") for ref in refs)
    # Unauthenticated, as a platform fetching image_link would.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as anon:
        for ref in refs:
            assert ref.url is not None
            r = await anon.get(ref.url.removeprefix("https://shop.example"))
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert r.content == Path(ref.path).read_bytes()  # noqa: ASYNC240
            served = Image.open(io.BytesIO(r.content))
            assert served.size == (ref.width, ref.height) and not served.getexif()
            assert b"PhoneMaker" not in r.content and "icc_profile" not in served.info
            assert hashlib.sha256(r.content).hexdigest() == ref.sha256
    # Same inputs: the same files; a different platform or enhance: other files, one decode per photo.
    assert await platform_photos(runtime.photos, photos, limits, public_base_url="https://shop.example") == refs
    sets = await platform_photo_sets(
        runtime.photos,
        photos,
        {"square": limits, "plain": ListingLimits(photo_max_edge=200)},
        public_base_url="https://shop.example",
        enhance=True,
    )
    assert [r.id for r in sets["plain"]] == [ids[1], ids[0], ids[2]]
    assert [(r.width, r.height) for r in sets["plain"]] == [(100, 200), (200, 150), (50, 40)]
    assert {r.path for r in sets["square"]}.isdisjoint(r.path for r in refs)


async def test_a_missing_original_is_named(api: Client, runtime: Runtime) -> None:
    item_id = await _item(api)
    photo_id = (await _upload(api, item_id, _jpeg(_scene(4)))).json()["id"]  # type: ignore[attr-defined]
    [photo] = await _item_photos(runtime, item_id)
    runtime.photos.original_path(photo.original_sha256, photo.original_format).unlink()
    with pytest.raises(PhotoFileMissing, match=photo_id):
        await platform_photos(runtime.photos, [photo], ListingLimits(), public_base_url="http://x")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("0" * 64 + ".jpg", 404),
        ("0" * 64 + ".webp", 404),
        ("A" * 64 + ".jpg", 400),
        ("0" * 63 + ".jpg", 400),
        ("0" * 64 + ".gif", 400),
        ("0" * 64 + ".jpg.json", 400),
        ("..%2F..%2Fcashout.db", 404),  # decoded to several path segments: no such route
        ("%2E%2E%2Fphotos%2Fclean", 404),
        ("cashout.db", 400),
    ],
)
async def test_media_route_rejects_unknown_and_malformed_names(app: Litestar, name: str, status: int) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as anon:
        r = await anon.get(f"/media/{name}")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")

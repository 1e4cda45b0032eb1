"""Photos: formats, size cap, bombs, content addressing, EXIF orientation applied and stripped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image

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

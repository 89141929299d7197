"""Assets on an S3-compatible store (moto's server), end to end: ingest writes COGs to the
bucket and nothing under DATA/assets; downloads with Range and ETags, tiles through GDAL's
/vsis3/, verify finds orphans; a bucket that is missing, refuses the keys or goes away is a
named setting error or a 503 naming S3.

References are independent of sathub's store: boto3 (moto's own client) reads the objects,
rasterio reads the source files, rio-tiler renders from a local copy of the same COG.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient
from PIL import Image
from pg_support import s3_server, s3_settings
from rio_tiler.io import Reader

from sathub.api.app import create_app
from sathub.app import Installation
from sathub.config import Settings
from sathub.errors import BackendUnavailable, SettingError

ASSET = f"/collections/{CID}/items/s0/assets/data"
WM = morecantile.tms.get("WebMercatorQuad")


def _boto(settings: Settings) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name="us-east-1",
                        aws_access_key_id=settings.s3_access_key_id,
                        aws_secret_access_key=settings.s3_secret_access_key)  # fmt: skip


def _bucket_keys(settings: Settings) -> list[str]:
    pages = _boto(settings).get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The distribution archive with its assets moved to a bucket (uploaded with boto3) and
    DATA/assets removed; the original files kept outside DATA as the reference."""
    base = tmp_path_factory.mktemp("s3")
    built = build_archive(base / "data", n_items=2)
    local = built["settings"].layout.assets
    ref = base / "ref"
    shutil.move(str(local), ref)
    settings = Settings(data=base / "data", **s3_settings())  # type: ignore[arg-type]
    client = _boto(settings)
    for path in sorted(p for p in ref.rglob("*") if p.is_file()):
        key = f"{settings.s3_prefix}/{path.relative_to(ref).as_posix()}"
        client.upload_file(str(path), settings.s3_bucket, key)
    return {"settings": settings, "ref": ref, "items": built["items"]}


@pytest.fixture(scope="module")
def client(archive: dict[str, Any]) -> Any:
    with TestClient(create_app(Installation.open(archive["settings"]))) as c:
        yield c


def _ref(archive: dict[str, Any], item: int = 0) -> Path:
    return archive["ref"] / archive["items"][item]["assets"]["data"]["href"]


def test_downloads_stream_from_the_bucket(client: Any, archive: dict[str, Any]) -> None:
    assert not archive["settings"].layout.assets.exists()  # nothing on local disk to fall back to
    body = _ref(archive).read_bytes()
    r = client.get(ASSET)
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-length"] == str(len(body)) and r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"].startswith("image/tiff; application=geotiff")
    head = _boto(archive["settings"]).head_object(
        Bucket=archive["settings"].s3_bucket, Key=f"archive/{archive['items'][0]['assets']['data']['href']}")
    assert r.headers["etag"] == head["ETag"]  # the bucket's own validator
    assert client.get(ASSET, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    meta = client.get(f"/collections/{CID}/items/s0/assets/metadata")
    assert meta.status_code == 200 and meta.json() == {"hello": "world"}


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None),
     ("bytes=5-5", 5, 5), ("bytes=10-999999999", 10, None), ("bytes=70000-70999", 70000, 70999)],
)  # fmt: skip
def test_range(client: Any, archive: dict[str, Any], header: str, start: int, end: int | None) -> None:
    body = _ref(archive).read_bytes()
    expected = body[start:] if end is None else body[start : end + 1]
    r = client.get(ASSET, headers={"Range": header})
    assert r.status_code == 206 and r.content == expected
    first = start if start >= 0 else len(body) + start
    assert r.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{len(body)}"
    past = client.get(ASSET, headers={"Range": f"bytes={len(body)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(body)}"


@pytest.mark.parametrize("z", [11, 13])
def test_tiles_read_the_bucket_through_vsis3(client: Any, archive: dict[str, Any], z: int) -> None:
    w, s, e, n = archive["items"][0]["bbox"]
    t = WM.tile((w + e) / 2, (s + n) / 2, z)
    r = client.get(f"/collections/{CID}/items/s0/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
                   "?bidx=3&bidx=2&bidx=1&rescale=0,4000")  # fmt: skip
    assert r.status_code == 200, r.text
    with Reader(str(_ref(archive))) as src:  # the same COG, local, read by rio-tiler itself
        img = src.tile(t.x, t.y, t.z, indexes=(3, 2, 1))
    img.rescale(in_range=[(0, 4000)])
    want = np.asarray(Image.open(io.BytesIO(img.render(img_format="PNG"))))
    got = np.asarray(Image.open(io.BytesIO(r.content)))
    assert got.shape == want.shape and np.array_equal(got, want) and got[..., -1].any()


def test_ingest_writes_the_bucket_and_verify_finds_orphans(tmp_path: Path) -> None:
    from test_ingest_support import copy_real_imagery

    from sathub.ingest.pipeline import ingest_paths
    from sathub.ingest.verify import verify_archive

    src = copy_real_imagery(tmp_path / "in") / "landsat5"
    settings = Settings(data=tmp_path / "data", **s3_settings())  # type: ignore[arg-type]
    with Installation.create(settings) as inst:
        report = ingest_paths([src], "l5", settings, inst.catalog, inst.objects)
        assert report.ok, [o.message for o in report.failed]
        (item,) = list(inst.catalog.iter_items("l5"))
        keys = sorted(f"archive/{a['href']}" for a in item["assets"].values())
        assert _bucket_keys(settings) == keys  # every asset in the bucket, nothing else
        assert not list(settings.layout.assets.rglob("*.tif"))  # and none on local disk
        for n in range(1, 8):
            href = item["assets"][f"B{n}"]["href"]
            path = inst.objects.gdal_path(href)
            assert path.startswith(f"/vsis3/{settings.s3_bucket}/archive/")
            with rasterio.open(path) as got, rasterio.open(src / f"LT52240631988227CUB02_B{n}.TIF") as want:
                assert np.array_equal(got.read(), want.read()) and got.crs == want.crs
        assert verify_archive(settings, inst.catalog, inst.objects).ok
        _boto(settings).put_object(Bucket=settings.s3_bucket, Key="archive/l5/stray/v1/x.tif", Body=b"x")
        rep = verify_archive(settings, inst.catalog, inst.objects)
        assert [p.path for p in rep.by_kind("orphan")] == [f"s3://{settings.s3_bucket}/archive/l5/stray/v1/x.tif"]
        verify_archive(settings, inst.catalog, inst.objects, repair=True)
        assert _bucket_keys(settings) == keys


def test_wrong_settings_stop_the_opening(tmp_path: Path) -> None:
    from sathub.stack.postgres import free_port
    from sathub.stack.s3server import S3Server

    good = s3_settings()
    with pytest.raises(SettingError) as missing:
        Installation.create(Settings(data=tmp_path / "a", **{**good, "s3_bucket": "no-such-bucket"}))  # type: ignore[arg-type]
    assert missing.value.field == "SATHUB_S3_BUCKET"
    with pytest.raises(BackendUnavailable) as down:
        Installation.create(Settings(data=tmp_path / "b", **{  # type: ignore[arg-type]
            **good, "s3_endpoint": f"http://127.0.0.1:{free_port()}"}))  # fmt: skip
    assert down.value.backend == "s3"
    with S3Server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as strict:  # checks credentials
        with pytest.raises(SettingError) as refused:
            Installation.create(Settings(data=tmp_path / "c", **{  # type: ignore[arg-type]
                **good, "s3_endpoint": strict.endpoint}))  # fmt: skip
    assert refused.value.field == "SATHUB_S3_ACCESS_KEY_ID"
    assert "sathub-test-secret" not in str(refused.value.message)


def test_a_bucket_that_goes_away_is_a_503_naming_s3(tmp_path: Path) -> None:
    from sathub.stack.s3server import S3Server

    s3_server()  # moto is importable (the shared server started)
    built = build_archive(tmp_path / "data")
    ref = tmp_path / "ref"
    shutil.move(str(built["settings"].layout.assets), ref)
    with S3Server() as own:
        settings = Settings(data=tmp_path / "data", **{**s3_settings(), "s3_endpoint": own.endpoint,  # type: ignore[arg-type]
                                                       "s3_bucket": "gone"})  # fmt: skip
        own.create_bucket("gone")
        inst = Installation.open(settings)
        for path in (p for p in ref.rglob("*") if p.is_file()):
            inst.objects.put(path.relative_to(ref).as_posix(), io.BytesIO(path.read_bytes()))
        with TestClient(create_app(inst), raise_server_exceptions=False) as c:
            assert c.get(ASSET).status_code == 200
            own.stop()  # the S3 server dies between two requests
            for url in (ASSET, f"/collections/{CID}/items/s0/tiles/WebMercatorQuad/10/0/0.png"):
                r = c.get(url)
                assert r.status_code == 503, (url, r.status_code, r.text)
                assert r.json()["backend"] == "s3" and "S3" in r.json()["description"]
                assert r.headers["retry-after"] == "5"
        # an ingest while the bucket is away publishes nothing
        from test_ingest_support import copy_real_imagery

        from sathub.ingest.pipeline import ingest_paths

        src = copy_real_imagery(tmp_path / "in") / "landsat5"
        before = sorted(i["id"] for i in inst.catalog.iter_items(CID))
        report = ingest_paths([src], CID, settings, inst.catalog, inst.objects)
        assert not report.ok and "S3" in report.failed[0].message
        assert sorted(i["id"] for i in inst.catalog.iter_items(CID)) == before
        inst.close()

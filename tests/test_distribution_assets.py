"""Downloads (Range, ETag, HEAD, 304/416), path safety, signed links, GDAL /vsicurl/ reads."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import rasterio
from distribution_support import CID, build_archive, item_for, write_cog
from fastapi.testclient import TestClient
from rasterio.windows import Window

from sathub.api.app import create_app
from sathub.catalog.sqlite import SQLiteStore
from sathub.storage import signing
from sathub.storage.http import parse_range
from sathub.storage.local import LocalStore

ASSET = f"/collections/{CID}/items/s0/assets/data"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    return build_archive(tmp_path_factory.mktemp("dist") / "data")


@pytest.fixture(scope="module")
def client(archive):
    from sathub.access import keys
    from sathub.app import Installation

    settings = archive["settings"]
    inst = Installation.open(settings)
    token, rec = keys.issue(inst.access.store, "operator", None, label="signer")
    archive["op"] = {"Authorization": f"Bearer {token}"}
    archive["kid"] = str(rec.id)
    with TestClient(create_app(inst)) as c:
        c.archive = archive  # type: ignore[attr-defined]
        yield c


def _file(archive) -> Path:
    s = archive["settings"]
    return s.layout.assets / archive["items"][0]["assets"]["data"]["href"]


def test_item_hrefs_become_download_urls(client, archive) -> None:
    item = client.get(f"/collections/{CID}/items/s0").json()
    data = item["assets"]["data"]
    # the URL ends with the stored file's name; the stored path (relative to the data
    # directory, which no client can resolve) is not published as an alternate href
    assert data["href"] == "http://testserver" + ASSET + "/data.tif"
    assert archive["items"][0]["assets"]["data"]["href"].endswith("/data.tif")
    assert "alternate" not in data
    assert client.get(data["href"]).content == _file(archive).read_bytes()
    rels = {link["rel"]: link["href"].split("?")[0] for link in item["links"]}  # without the rendering
    assert rels["xyz"].endswith("/tiles/WebMercatorQuad/{z}/{x}/{y}.png")
    assert rels["tilejson"].endswith("/tiles/WebMercatorQuad/tilejson.json")
    assert rels["wmts"].endswith("/tiles/WebMercatorQuad/WMTSCapabilities.xml")
    for rel in ("xyz", "tilejson", "wmts"):
        path = rels[rel].replace("http://testserver", "").replace("{z}/{x}/{y}", "1/0/0")
        assert client.get(path).status_code in (200, 204), rel
    coll = client.get(f"/collections/{CID}").json()
    assert {"xyz", "tilejson"} <= {link["rel"] for link in coll["links"]}


def test_get_whole_file(client, archive) -> None:
    body = _file(archive).read_bytes()
    r = client.get(ASSET)
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-length"] == str(len(body))
    assert r.headers["content-type"].startswith("image/tiff; application=geotiff")
    assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"].startswith('"')
    meta = client.get(f"/collections/{CID}/items/s0/assets/metadata")
    assert meta.headers["content-type"].startswith("application/json") and meta.json() == {"hello": "world"}


def test_head(client, archive) -> None:
    r = client.head(ASSET)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(_file(archive).stat().st_size)
    r = client.head(ASSET, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.headers["content-length"] == "10"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None),
     ("bytes=5-5", 5, 5), ("bytes=10-999999999", 10, None)],
)  # fmt: skip
def test_range(client, archive, header: str, start: int, end: int | None) -> None:
    body = _file(archive).read_bytes()
    expected = body[start:] if end is None else body[start : end + 1]
    r = client.get(ASSET, headers={"Range": header})
    assert r.status_code == 206
    assert r.content == expected
    first = start if start >= 0 else len(body) + start
    assert r.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{len(body)}"
    assert r.headers["content-length"] == str(len(expected))


def test_range_past_end_is_416(client, archive) -> None:
    size = _file(archive).stat().st_size
    r = client.get(ASSET, headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    assert r.json()["code"] == "RangeNotSatisfiable"


def test_malformed_or_multi_range_sends_whole_file(client, archive) -> None:
    size = _file(archive).stat().st_size
    for h in ("bytes=abc", "items=0-1", "bytes=0-1,5-6", "bytes=9-3"):
        r = client.get(ASSET, headers={"Range": h})
        assert r.status_code == 200 and len(r.content) == size, h


def test_etag_conditionals(client) -> None:
    etag = client.head(ASSET).headers["etag"]
    assert client.get(ASSET, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(ASSET, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert client.get(ASSET, headers={"If-None-Match": '"other"'}).status_code == 200
    r = client.get(ASSET, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206
    r = client.get(ASSET, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200


def test_unknown_item_or_asset_is_404(client) -> None:
    assert client.get(f"/collections/{CID}/items/nope/assets/data").status_code == 404
    assert client.get(f"/collections/{CID}/items/s0/assets/nope").status_code == 404
    assert client.get("/collections/nope/items/s0/assets/data").status_code == 404


def test_download_url_with_the_file_name(client, archive) -> None:
    """``…/assets/{key}/{file name}`` serves what ``…/assets/{key}`` serves (GET, HEAD, Range,
    ETag); any other name, or the name of another asset's file, is a 404."""
    body = _file(archive).read_bytes()
    named = ASSET + "/data.tif"
    r = client.get(named)
    assert r.status_code == 200 and r.content == body
    assert r.headers["etag"] == client.head(ASSET).headers["etag"]
    assert 'filename*=UTF-8\'\'data.tif' in r.headers["content-disposition"]
    r = client.head(named, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.headers["content-length"] == "10" and r.content == b""
    r = client.get(named, headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.content == body[:4]
    for wrong in ("data.TIF", "meta.json", "data", "other.tif", "data.tif.aux.xml"):
        assert client.get(f"{ASSET}/{wrong}").status_code == 404, wrong
        assert client.head(f"{ASSET}/{wrong}").status_code == 404, wrong
    meta = client.get(f"/collections/{CID}/items/s0/assets/metadata/meta.json")
    assert meta.status_code == 200 and meta.json() == {"hello": "world"}
    # a missing item answers the same with or without a file name
    a = client.get(f"/collections/{CID}/items/nope/assets/data/data.tif")
    b = client.get(f"/collections/{CID}/items/nope/assets/data")
    assert (a.status_code, a.json()) == (b.status_code, b.json()) == (404, b.json())


def test_path_traversal(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    (root / "c").mkdir(parents=True)
    (root / "c" / "ok.tif").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "c" / "link").symlink_to(tmp_path / "secret.txt")
    store = LocalStore(root)
    assert store.stat("c/ok.tif").size == 1
    for bad in ("../secret.txt", "c/../../secret.txt", "/etc/passwd", str(tmp_path / "secret.txt"),
                "c/link", "file:///etc/passwd", "c/ok.tif\x00", "c\\..\\..\\secret.txt", "", "c"):  # fmt: skip
        with pytest.raises(Exception) as exc:
            store.stat(bad)
        assert type(exc.value).__name__ == "NotFound", bad


def test_path_traversal_through_the_api(tmp_path: Path) -> None:
    """An item whose href points outside the archive (e.g. loaded by a careless client) still
    cannot serve that file; neither can URL tricks in the path parameters."""
    built = build_archive(tmp_path / "data")
    settings = built["settings"]
    (tmp_path / "data" / "secrets" / "x.txt").write_text("secret")
    store = SQLiteStore(settings.layout.catalog_db)
    bad = dict(built["items"][0], id="evil")
    bad["assets"] = {
        "up": {"href": "../secrets/x.txt"}, "abs": {"href": str(tmp_path / "data/secrets/x.txt")},
        "db": {"href": "../catalog.db"},
    }  # fmt: skip
    store.create_item(bad)
    store.close()
    with TestClient(create_app(settings)) as c:
        for key in ("up", "abs", "db"):
            r = c.get(f"/collections/{CID}/items/evil/assets/{key}")
            assert r.status_code == 404 and b"secret" not in r.content
        for path in (f"/collections/{CID}/items/s0/assets/..%2F..%2Fcatalog.db",
                     f"/collections/{CID}/items/..%2F..%2Fsecrets/assets/data",
                     f"/collections/{CID}/items/s0/assets/%2e%2e"):  # fmt: skip
            assert c.get(path).status_code == 404


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-0", 10).length == 1  # type: ignore[union-attr]
    assert parse_range(None, 10) is None
    assert parse_range("bytes=-100", 10).start == 0  # type: ignore[union-attr]


# ---------------------------------------------------------------- signed links
def _mint(client, ttl: int = 60, key: str = "data") -> str:
    r = client.post(f"/collections/{CID}/items/s0/assets/{key}/sign", json={"expires_in": ttl},
                    headers=client.archive["op"])  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["href"])


def test_sign_requires_authorisation(client) -> None:
    url = f"/collections/{CID}/items/s0/assets/data/sign"
    assert client.post(url, json={}).status_code == 401
    assert client.post(url, json={}, headers={"Authorization": "Bearer no"}).status_code in (401, 403)
    r = client.post(url, json={"expires_in": 10**9}, headers=client.archive["op"])
    assert r.status_code == 400 and "expires_in" in r.text
    r = client.post(f"/collections/{CID}/items/zz/assets/data/sign", json={},
                    headers=client.archive["op"])  # fmt: skip
    assert r.status_code == 404


def test_signed_link_works_and_key_file_is_private(client, archive) -> None:
    href = _mint(client)
    assert urlparse(href).path == ASSET + "/data.tif"  # ends with the file's name
    r = client.get(href)
    assert r.status_code == 200 and r.content == _file(archive).read_bytes()
    r = client.get(href, headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.content == b"II*\x00"
    key_file = archive["settings"].layout.secrets / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_signed_link_tampering_is_403(client) -> None:
    href = _mint(client)
    u = urlparse(href)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    sig, exp, kid = q["signature"], q["expires"], q["kid"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    cases = [
        f"{u.path}?expires={exp}&kid={kid}&signature={flipped}",  # altered signature
        f"{u.path}?expires={int(exp) + 3600}&kid={kid}&signature={sig}",  # extended expiry
        f"{u.path.replace('/data', '/metadata')}?expires={exp}&kid={kid}&signature={sig}",  # other asset
        f"{u.path}?expires={exp}&kid={int(kid) + 1}&signature={sig}",  # another signer
        f"{u.path}?expires={exp}&signature={sig}",  # no signer
        f"{u.path}?expires={exp}&kid={kid}",  # no signature
        f"{u.path}?expires=soon&kid={kid}&signature={sig}",
        f"{u.path}?expires={exp}&kid={kid}&signature=%C3%A9{sig[2:]}",  # non-ASCII
    ]
    for case in cases:
        r = client.get(case)
        assert r.status_code == 403, case
        assert r.json()["code"] == "Forbidden"


def test_signed_link_expiry(archive) -> None:
    key = signing.load_key(archive["settings"].layout.secrets)
    now = time.time()
    exp, sig = signing.sign(key, CID, "s0", "data", ttl_s=5, now=now, kid="7")
    signing.verify(key, CID, "s0", "data", str(exp), sig, "7", now=now + 4)
    with pytest.raises(Exception, match="expired"):
        signing.verify(key, CID, "s0", "data", str(exp), sig, "7", now=now + 6)
    with TestClient(create_app(archive["settings"])) as c:
        exp, sig = signing.sign(key, CID, "s0", "data", ttl_s=1, now=now - 10, kid=archive["kid"])
        r = c.get(f"{ASSET}?expires={exp}&kid={archive['kid']}&signature={sig}")
        assert r.status_code == 403 and "expired" in r.json()["description"]


def test_signing_key_is_stable(tmp_path: Path) -> None:
    k1 = signing.load_key(tmp_path / "secrets")
    assert k1 == signing.load_key(tmp_path / "secrets") and len(k1) == 32


# ------------------------------------------------------------ GDAL /vsicurl/
def test_vsicurl_window_read_transfers_a_small_fraction(tmp_path: Path) -> None:
    """rasterio reads a 256 px window of a ~33 MB COG over HTTP, fetching a small fraction of it
    (typically 2.5–3.3 %: one 512 px block, the IFDs and GDAL's read-ahead)."""
    from conftest import LiveServer

    built = build_archive(tmp_path / "data", n_items=0)
    settings = built["settings"]
    cog = settings.layout.assets / CID / "big" / "v1" / "data.tif"
    write_cog(cog, 5000, 5000, count=1, dtype="uint8", noise=True, nodata=None)
    store = SQLiteStore(settings.layout.catalog_db)
    store.create_item(item_for(cog, settings.layout.assets, "big"))
    store.close()
    size = cog.stat().st_size
    assert size > 25e6

    server = LiveServer(settings.data)
    app = server.server.config.app
    counter = {"bytes": 0, "requests": 0}

    class Counting(LocalStore):
        def open_range(self, href, start, end, chunk_size=256 * 1024):  # type: ignore[no-untyped-def]
            counter["requests"] += 1
            for chunk in super().open_range(href, start, end, chunk_size):
                counter["bytes"] += len(chunk)
                yield chunk

    app.state.installation.objects = Counting(settings.layout.assets)
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_USE_HEAD": "NO",
           "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES", "CPL_VSIL_CURL_CACHE_SIZE": "0"}  # fmt: skip
    with server:
        url = f"/vsicurl/{server.url}/collections/{CID}/items/big/assets/data"
        with rasterio.Env(**env), rasterio.open(url) as ds:
            window = Window(2048 + 128, 2048 + 128, 256, 256)  # inside one 512 px block
            remote = ds.read(1, window=window)
    with rasterio.open(cog) as ds:
        assert np.array_equal(remote, ds.read(1, window=window))
    print(f"vsicurl window read: {counter} of {size} bytes ({counter['bytes'] / size:.2%})")
    assert counter["requests"] >= 1
    # typically 2.5–3.3 %; on a loaded machine the server may read a few chunks ahead of a
    # request GDAL has already given up on (seen: 8.8 %), and GDAL builds differ in how far
    # they read ahead (seen: 14.3 % in 3 requests on a fresh install): far below the whole file
    assert counter["bytes"] < 0.25 * size, (counter, size)

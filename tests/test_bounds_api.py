"""Signatures, ids and JSON bodies are bounded before they reach the code that would fail on
them: a non-ASCII signature, an id with a control character, a body nested 10,000 deep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from sathub.api.app import create_app
from sathub.errors import Forbidden, InvalidInput, LoadError

ASSET = f"/collections/{CID}/items/s0/assets/data"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    return build_archive(tmp_path_factory.mktemp("bounds-api") / "data", n_items=1, size=64)


@pytest.fixture(scope="module")
def client(archive):
    """An admin's client (writes need a key)."""
    from conftest import issue_key

    from sathub.app import Installation

    key = issue_key(Installation.open(archive["settings"]), "admin")
    with TestClient(create_app(archive["settings"]), raise_server_exceptions=False,
                    headers={"Authorization": f"Bearer {key}"}) as c:  # fmt: skip
        yield c


# -------------------------------------------------------------------- signatures
@pytest.mark.parametrize("sig", ["é", "%C3%A9" * 40, "ü" * 64, "0" * 63 + "é", "\x00", "a" * 10000])
def test_malformed_signatures_are_403(client, sig: str) -> None:
    for kid in ("1", "é", "1" * 50):
        r = client.get(ASSET, params={"expires": "99999999999", "signature": sig, "kid": kid})
        assert r.status_code == 403, (sig, kid, r.text)


@pytest.mark.parametrize("expires", ["١٢٣", "1" * 5000, "-5", " 12", "1e9"])
def test_malformed_expiries_are_403(client, expires: str) -> None:
    r = client.get(ASSET, params={"expires": expires, "signature": "0" * 64, "kid": "1"})
    assert r.status_code == 403 and "expiry" in r.text


def test_verify_refuses_before_comparing() -> None:
    from sathub.storage import signing

    key = b"k" * 32
    exp, sig = signing.sign(key, "c", "i", "a", ttl_s=60, kid="7")
    signing.verify(key, "c", "i", "a", str(exp), sig, "7")
    signing.verify(key, "c", "i", "a", str(exp), sig.upper(), "7")  # hex is case-insensitive
    for bad in ("é" + sig[1:], sig + "0", sig[:-1], "\x00" * 64):
        with pytest.raises(Forbidden, match="signature"):
            signing.verify(key, "c", "i", "a", str(exp), bad, "7")


# --------------------------------------------------------------------------- ids
BAD_IDS = ["bad\nid", "tab\there", "nul\x00", "esc\x1b[31m", "del\x7f", "c1\x85", "rtl\u202eevil",
           "zero\u200bwidth", "line\u2028sep", "bom\ufeff", " ", "", "a/b", "x" * 513]  # fmt: skip


def _item(archive: dict[str, Any], item_id: str) -> dict[str, Any]:
    return {**archive["items"][0], "id": item_id, "links": []}


@pytest.mark.parametrize("bad", BAD_IDS)
def test_control_characters_in_ids_are_refused_on_every_write(client, archive, bad: str) -> None:
    r = client.post(f"/collections/{CID}/items", json=_item(archive, bad))
    assert r.status_code == 400 and r.json()["field"] == "id", (bad, r.text)
    r = client.post(f"/collections/{CID}/items",
                    json={"type": "FeatureCollection", "features": [_item(archive, bad)]})  # fmt: skip
    assert r.status_code == 400, (bad, r.text)
    r = client.post(f"/collections/{CID}/bulk_items", json={"items": {"x": _item(archive, bad)}})
    assert r.status_code == 400, (bad, r.text)
    coll = {"type": "Collection", "id": bad, "description": "d", "license": "CC0-1.0",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            "links": []}  # fmt: skip
    r = client.post("/collections", json=coll)
    assert r.status_code == 400 and r.json()["field"] == "id", (bad, r.text)
    ids = {f["id"] for f in client.get(f"/collections/{CID}/items?limit=100").json()["features"]}
    assert ids == {"s0"}  # nothing was written
    assert {c["id"] for c in client.get("/collections").json()["collections"]} == {CID}


def test_the_loader_refuses_them_naming_the_line(archive, tmp_path: Path) -> None:
    from sathub.catalog.loader import load_file
    from sathub.catalog.sqlite import SQLiteStore

    src = tmp_path / "items.ndjson"
    src.write_text(json.dumps(_item(archive, "fine")) + "\n" + json.dumps(_item(archive, "bad\nid")) + "\n")
    store = SQLiteStore(tmp_path / "catalog.db")
    store.create_collection(json.loads(json.dumps({
        "type": "Collection", "id": CID, "description": "d", "license": "CC0-1.0",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        "links": []})))  # fmt: skip
    with pytest.raises((LoadError, InvalidInput), match="line 2|control character"):
        load_file(store, src)
    store.close()


def test_unicode_ids_get_a_percent_encoded_location(client, archive) -> None:
    """An id outside Latin-1 was committed, then the Location header failed (500)."""
    r = client.post(f"/collections/{CID}/items", json=_item(archive, "日本-scène"))
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/items/%E6%97%A5%E6%9C%AC-sc%C3%A8ne")
    assert client.get(r.headers["location"]).json()["id"] == "日本-scène"
    assert client.delete(r.headers["location"]).status_code == 204


# -------------------------------------------------------------------- JSON depth
@pytest.mark.parametrize("path", ["/search", f"/collections/{CID}/items", "/mosaic/register",
                                  f"/collections/{CID}/items/s0/feature.png", "/collections"])  # fmt: skip
def test_deep_json_bodies_are_400_before_parsing(client, path: str) -> None:
    deep = '{"filter": ' + "[" * 10_000 + "]" * 10_000 + "}"
    r = client.post(path, content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 400, (path, r.status_code, r.text[:200])
    assert r.json()["field"] == "body" and "SATHUB_MAX_JSON_DEPTH" in r.json()["description"]
    r = client.post(path, content=deep)  # no content type: still JSON to FastAPI
    assert r.status_code == 400 and "SATHUB_MAX_JSON_DEPTH" in r.text


def test_the_depth_limit_is_the_setting(archive) -> None:
    from sathub.api.middleware import json_depth
    from sathub.config import Settings

    with TestClient(create_app(Settings(data=archive["settings"].data, max_json_depth=5))) as c:
        shallow = {"filter-lang": "cql2-json", "filter": {"op": "=", "args": [{"property": "id"}, "s0"]}}
        assert json_depth(json.dumps(shallow).encode()) == 4
        assert c.post("/search", json=shallow).status_code == 200
        deeper = {"filter-lang": "cql2-json", "filter": {"op": "not", "args": [shallow["filter"]]}}
        r = c.post("/search", json=deeper)
        assert r.status_code == 400 and "more than 5" in r.json()["description"]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(alphabet=st.sampled_from('ab[]{}"\\é\n'), max_size=8))  # fmt: skip
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(alphabet='k[]{}"\\', max_size=4), inner, max_size=4)),
    max_leaves=30)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_json, st.booleans(), st.sampled_from([1, 2, 3, 5, 1 << 20]))
def test_json_depth_equals_the_parsed_depth(value: Any, ascii_only: bool, chunk: int) -> None:
    """Reference: the depth of the value the JSON text encodes, by recursion; any chunking."""
    from sathub.api.middleware import json_depth

    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth(text, chunk=chunk) == _depth(value)


@pytest.mark.parametrize("body", [b"null", b"[]", b"1", b'"x"'])
def test_updates_with_a_body_that_is_not_an_object_are_400(client, body: bytes) -> None:
    for path in (f"/collections/{CID}/items/s0", f"/collections/{CID}"):
        r = client.put(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["field"] == "body", (path, r.text)


@pytest.mark.parametrize("path", ["/search", "/aggregate", f"/collections/{CID}/items"])
def test_lone_surrogates_in_json_bodies_are_400(client, path: str) -> None:
    """Python's json turns "\\ud800" into a str that cannot be encoded: SQLite failed (500)."""
    for body in (b'{"collections": ["\\udfff"], "aggregations": ["total_count"], "id": "\\ud800"}',
                 b'{"limit": NaN, "collections": ["\\ud800"]}'):  # fmt: skip
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "Unicode" in r.json()["description"], (path, r.text)
    ok = b'{"collections": ["\\ud83d\\udef0"], "aggregations": ["total_count"]}'  # an escaped emoji
    if path != f"/collections/{CID}/items":
        assert client.post(path, content=ok, headers={"content-type": "application/json"}).status_code == 200

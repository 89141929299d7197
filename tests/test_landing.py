"""The landing page: browsers asking ``/`` for HTML get a page of what the installation holds
and where to go; STAC clients keep the JSON landing page.

The negotiation is checked against werkzeug's ``MIMEAccept.best_match`` (an independent
implementation of RFC 9110's rules) on generated ``Accept`` headers; the page lists only the
collections the caller may see, with item counts equal to a count over the catalog; and
pystac-client still opens the root of a live server.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from distribution_support import CID, build_archive
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from typer.testing import CliRunner

from sathub.api import landing
from sathub.api.app import create_app
from sathub.catalog.sqlite import SQLiteStore

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"
HIDDEN = "hidden"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sathub.cli import app as cli_app

    data = tmp_path_factory.mktemp("landing") / "data"
    built = build_archive(data, n_items=3)
    store = SQLiteStore(built["settings"].layout.catalog_db)
    coll = {**store.get_collection(CID), "id": HIDDEN, "title": "Hidden scenes"}
    store.create_collection(coll)
    for item in built["items"][:2]:
        store.create_item({**item, "collection": HIDDEN})
    store.close()
    r = CliRunner().invoke(cli_app, ["collections", "restrict", HIDDEN, "--data", str(data)])
    assert r.exit_code == 0, r.output
    return built


@pytest.fixture(scope="module")
def client(archive: dict[str, Any]):  # type: ignore[no-untyped-def]
    with TestClient(create_app(archive["settings"])) as c:
        yield c


def test_browser_gets_the_html_page(client: TestClient, archive: dict[str, Any]) -> None:
    r = client.get("/", headers={"Accept": BROWSER})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "accept" in r.headers["vary"].lower()
    page = r.text
    for anchor, href in (("link-viewer", "viewer"), ("link-browser", "browser/"), ("link-docs", "api.html")):
        assert re.search(rf'id="{anchor}" href="http://testserver/{re.escape(href)}"', page), anchor
    assert 'id="console"' in page  # the console's slot, until it exists
    # the visible collection with its item count (counted here from the catalog)
    store = SQLiteStore(archive["settings"].layout.catalog_db)
    n = sum(1 for _ in store.iter_items(CID))
    store.close()
    row = re.search(rf'<tr><td><a href="http://testserver/browser/collections/{CID}">.*?</tr>', page)
    assert row and f'<td class="n">{n}</td>' in row.group(0)
    assert f"{n} item" in re.search(r'<p id="summary">(.*?)</p>', page).group(1)  # type: ignore[union-attr]
    # a restricted collection does not exist for the public: not listed, not counted
    assert HIDDEN not in page and "Hidden scenes" not in page
    for path in (f"/browser/collections/{CID}", "/viewer", "/browser/", "/api.html"):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/geo+json, */*",
                                    "text/html, application/json", "text/html;q=0.5, */*"])  # fmt: skip
def test_clients_keep_the_json(client: TestClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = client.get("/", headers=headers)
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["type"] == "Catalog" and doc["conformsTo"]
    children = [link["href"] for link in doc["links"] if link["rel"] == "child"]
    assert children == [f"http://testserver/collections/{CID}"]  # the hidden one is not a child


def test_format_parameter_overrides_the_header(client: TestClient) -> None:
    assert client.get("/?f=json", headers={"Accept": BROWSER}).headers["content-type"].startswith("application/json")
    assert client.get("/?f=html", headers={"Accept": "*/*"}).headers["content-type"].startswith("text/html")


def test_pystac_client_opens_the_root(archive: dict[str, Any]) -> None:
    from conftest import LiveServer
    from pystac_client import Client

    with LiveServer(archive["settings"].data) as srv:
        cat = Client.open(srv.url + "/")
        assert [c.id for c in cat.get_collections()] == [CID]
        assert len(list(cat.search(collections=[CID]).items())) == 3


media = st.sampled_from(["text/html", "application/json", "text/*", "application/*", "*/*",
                         "application/xml", "image/webp", "application/geo+json", "text/plain"])  # fmt: skip
quality = st.one_of(st.none(), st.integers(0, 1000).map(lambda m: f"{m / 1000:.3f}".rstrip("0").rstrip(".")))
accept_headers = st.lists(st.tuples(media, quality), max_size=6).map(
    lambda parts: ", ".join(m if q is None else f"{m};q={q}" for m, q in parts)
)


def _request(accept: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                    "headers": [(b"accept", accept.encode())]})  # fmt: skip


@settings(deadline=None)  # a loaded machine: the first call imports werkzeug
@given(accept_headers)
def test_negotiation_matches_werkzeug(accept: str) -> None:
    from werkzeug.datastructures import MIMEAccept
    from werkzeug.http import parse_accept_header

    best = parse_accept_header(accept, MIMEAccept).best_match(["application/json", "text/html"])
    assert landing.wants_html(_request(accept)) == (best == "text/html"), accept

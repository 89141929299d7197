"""Downloads of real COG assets through the asset router under the access policy: restricted
items are 404 without a grant, bytes are charged to the agreement (429 + Retry-After past the
quota), asset roles apply, signed-link use and forged links are handled, all audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("sathub.api.routers.assets")
from distribution_support import CID, build_archive

from sathub.access import keys
from sathub.access.service import AccessService
from sathub.api.app import create_app


@pytest.fixture()
def setup(tmp_path: Path) -> Any:
    archive = build_archive(tmp_path / "data", size=64)
    settings = archive["settings"]
    service = AccessService.for_layout(settings.layout)
    s = service.store
    s.set_collection_level(CID, "restricted")
    org = s.add_org("Partner", "company").id
    size = (settings.layout.assets / CID / "s0" / "v1" / "data.tif").stat().st_size
    agr = s.add_agreement(org, title="p", collections=(CID,), quota_bytes=size + 10)
    tokens = {"partner": keys.issue(s, "partner", org)[0], "operator": keys.issue(s, "operator", None)[0]}
    with TestClient(create_app(settings)) as c:
        yield c, tokens, service, agr, size


def _h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_restricted_download_is_charged_then_429(setup: Any) -> None:
    client, tokens, service, agr, size = setup
    url = f"/collections/{CID}/items/s0/assets/data"
    assert client.get(url).status_code == 404  # anonymous: the item does not exist
    assert client.head(url, headers=_h(tokens, "partner")).status_code == 200  # HEAD is free
    r = client.get(url, headers=_h(tokens, "partner"))
    assert r.status_code == 200 and len(r.content) == size
    r = client.get(url, headers={**_h(tokens, "partner"), "Range": "bytes=0-9"})
    assert r.status_code == 206  # 10 more bytes: exactly at the quota
    r = client.get(url, headers={**_h(tokens, "partner"), "Range": "bytes=0-0"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "quota" in r.json()["description"]
    recs = [x for x in service.audit.records() if x["action"] == "download"]
    assert [(x["bytes"], x["outcome"]) for x in recs] == [(size, "ok"), (10, "ok"), (0, "quota exceeded")]
    assert all(x["agreement_id"] == agr.id for x in recs)


def test_asset_roles_and_guessed_ids(setup: Any) -> None:
    client, tokens, service, agr, size = setup
    service.store.update_agreement(agr.id, asset_roles=("thumbnail",))
    r = client.get(f"/collections/{CID}/items/s0/assets/data", headers=_h(tokens, "partner"))
    assert r.status_code == 403
    for iid in ("s1", "s0' OR '1'='1", "../s0"):
        r = client.get(f"/collections/{CID}/items/{iid}/assets/data", headers=_h(tokens, "partner"))
        assert r.status_code == 404


def test_signed_links_are_audited_and_forgeries_refused(setup: Any) -> None:
    """A partner may sign what it may download; the link's uses count against the signer's
    agreement and end with the signer's key or agreement."""
    client, tokens, service, agr, size = setup
    url = f"/collections/{CID}/items/s0/assets/data/sign"
    assert client.post(url, json={}).status_code == 401
    r = client.post(url, json={"expires_in": 60}, headers=_h(tokens, "partner"))
    assert r.status_code == 200, r.text
    href = r.json()["href"]
    assert client.get(href).status_code == 200  # anonymous holder of a signed link
    forged = href[:-4] + ("0000" if not href.endswith("0000") else "1111")
    assert client.get(forged).status_code == 403
    recs = [x for x in service.audit.records() if x["action"] in ("download", "sign")]
    assert [(x["action"], x["bytes"], x["agreement_id"]) for x in recs] == [
        ("sign", 0, agr.id), ("download", size, agr.id)]
    assert recs[1]["detail"] == {"via": "signed-link"} and recs[1]["actor"] == recs[0]["actor"]
    # the quota pays for signed-link uses too: 10 bytes left, then 429
    assert client.get(href, headers={"Range": "bytes=0-9"}).status_code == 206
    assert client.get(href, headers={"Range": "bytes=0-0"}).status_code == 429
    # the link ends with the signer's agreement...
    service.store.update_agreement(agr.id, status="suspended")
    r = client.get(href)
    assert r.status_code == 403 and "signer" in r.json()["description"]
    # ... and with the signer's key
    op = client.post(url, json={"expires_in": 60}, headers=_h(tokens, "operator")).json()["href"]
    assert client.get(op, headers={"Range": "bytes=0-0"}).status_code == 206
    service.store.revoke_key(service.store.keys()[-1].id)
    assert client.get(op).status_code == 403
    assert service.audit.verify().ok

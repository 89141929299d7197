"""What the access path keeps between requests, and that nothing kept outlives a change:

- the access service keeps a key's actor while the access database is unchanged; a key revoked,
  an agreement suspended or a collection restricted by another process (``sathub access …``
  runs apart from the server) takes effect on the next request;
- the store counts a partner's matches on its copy of the kept rows (index columns only): the
  count equals the policy evaluated item by item, for filters on those columns.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access_fixtures import DAY, box, collection, item
from test_access_property import agreements

from sathub.access import keys
from sathub.access.models import Actor
from sathub.access.policy import grants_filter, item_visible
from sathub.access.service import AccessService
from sathub.access.store import AccessStore
from sathub.catalog.query import build_search
from sathub.catalog.sqlite import SQLiteStore
from sathub.catalog.store import SearchQuery
from sathub.errors import Unauthorized

NOW = time.time()
COLLECTIONS = ["c0", "c1", "c2"]


def _service(tmp_path: Path) -> tuple[AccessService, AccessStore, str, int]:
    svc = AccessService(tmp_path, tmp_path / "secrets")
    org = svc.store.add_org("Partner", "university").id
    svc.store.set_collection_level("c1", "restricted")
    svc.store.add_agreement(org, title="a", collections=("c1",), aoi=box(0, 0, 10, 10))
    token, _ = keys.issue(svc.store, "partner", org)
    other = AccessStore(tmp_path / "access.db")  # another process's view of the same file
    return svc, other, token, org


def test_actor_is_kept_while_nothing_changes(tmp_path: Path) -> None:
    svc, other, token, _ = _service(tmp_path)
    first = svc.actor(f"Bearer {token}", NOW)
    assert svc.actor(f"Bearer {token}", NOW + 120) is first  # a last-use update changes nothing
    assert grants_filter(first, NOW) is grants_filter(first, NOW + 1)
    other.add_org("Someone else", "company")  # any change: a new actor, equal to the first
    again = svc.actor(f"Bearer {token}", NOW)
    assert again is not first and again == first


def test_revoked_key_is_refused_on_the_next_request(tmp_path: Path) -> None:
    svc, other, token, _ = _service(tmp_path)
    svc.actor(f"Bearer {token}", NOW)
    key_id = other.keys()[-1].id
    other.revoke_key(key_id, NOW - 1)
    with pytest.raises(Unauthorized, match="revoked"):
        svc.actor(f"Bearer {token}", NOW)


def test_revocation_at_a_later_time_takes_effect_then(tmp_path: Path) -> None:
    svc, other, token, _ = _service(tmp_path)
    other.revoke_key(other.keys()[-1].id, NOW + 60)
    svc.actor(f"Bearer {token}", NOW)  # still valid, and now kept
    with pytest.raises(Unauthorized, match="revoked"):
        svc.actor(f"Bearer {token}", NOW + 61)


def test_agreement_and_level_changes_reach_the_filter(tmp_path: Path) -> None:
    svc, other, token, org = _service(tmp_path)
    store = SQLiteStore(tmp_path / "catalog.db")
    for c in COLLECTIONS:
        store.create_collection(collection(c))
    inside = item("in", "c1", box(1, 1, 2, 2), NOW - DAY)
    open_ = item("open", "c2", box(1, 1, 2, 2), NOW - DAY)
    store.bulk_upsert([inside, open_])

    def seen() -> set[str]:
        flt = grants_filter(svc.actor(f"Bearer {token}", NOW), NOW)
        return {i["id"] for i in store.search(SearchQuery(limit=10), extra_filter=flt).items}

    assert seen() == {"in", "open"}
    agreement = other.agreements(org)[0]
    other.update_agreement(agreement.id, status="suspended")
    assert seen() == {"open"}
    other.update_agreement(agreement.id, status="active")
    assert seen() == {"in", "open"}
    other.set_collection_level("c2", "restricted")  # not covered by the agreement
    assert seen() == {"in"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SQLiteStore:
    s = SQLiteStore(tmp_path_factory.mktemp("copy") / "catalog.db")
    for c in COLLECTIONS:
        s.create_collection(collection(c))
    return s


def _cloudy(iid: str, coll: str, w: float, s: float, ts: float, cloud: float) -> dict[str, Any]:
    it = item(iid, coll, box(w, s, w + 2, s + 2), ts)
    it["properties"]["eo:cloud_cover"] = cloud
    return it


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])  # fmt: skip
@given(
    rows=st.lists(st.tuples(st.sampled_from(COLLECTIONS), st.integers(0, 18), st.integers(0, 18),
                            st.integers(-400, 0), st.integers(0, 100)), max_size=25),  # fmt: skip
    agrs=st.lists(agreements(), max_size=4),
    restricted=st.lists(st.sampled_from(COLLECTIONS), unique=True),
    below=st.integers(0, 101),
    colls=st.none() | st.lists(st.sampled_from(COLLECTIONS), min_size=1, unique=True),
    since=st.none() | st.integers(-400, 0),
)
def test_count_on_the_kept_copy_equals_the_policy(store: SQLiteStore, rows: list[tuple[Any, ...]],
                                                  agrs: list[Any], restricted: list[str], below: int,
                                                  colls: list[str] | None, since: int | None) -> None:  # fmt: skip
    its = [_cloudy(f"i{k}", c, w, s, NOW + d * DAY, cloud) for k, (c, w, s, d, cloud) in enumerate(rows)]
    with store.transaction() as tx:
        tx.conn.execute("DELETE FROM items")
        for it in its:
            tx.put_item(it)
    actor = Actor(role="partner", org_id=1, agreements=tuple(agrs), restricted=frozenset(restricted))
    flt = grants_filter(actor, NOW)
    start = None if since is None else NOW + (since - 0.5) * DAY  # half a day from any item
    query = SearchQuery(limit=3, collections=colls,
                        filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, below]},
                        start=None if start is None else dt.datetime.fromtimestamp(start, dt.UTC))  # fmt: skip
    expected = [it for it in its if item_visible(actor, it, NOW)
                and it["properties"]["eo:cloud_cover"] < below
                and (colls is None or it["collection"] in colls)
                and (start is None or _ts(it) >= start)]  # fmt: skip
    res = store.search(query, extra_filter=flt)
    assert res.matched == len(expected)
    if flt is not None and len(flt.parts) == 1 and not isinstance(flt.parts[0], dict):
        conn = store._conn()  # the copy was what was counted on
        with store._snapshot(conn, flt) as resolved:
            assert store.count_source(build_search(query, resolved, store.queryables())) is not None


def _ts(it: dict[str, Any]) -> float:
    from sathub.catalog.validate import parse_datetime

    return float(parse_datetime(it["properties"]["datetime"], field="datetime"))

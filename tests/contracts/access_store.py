"""The access state-store contract suite (:class:`sathub.access.state.AccessState`):
organisations, keys, agreements, collection levels and derived-from links, activations, quota
usage, the audit chain (records, head, pending tile uses, verify) and the change counter the
actor caches key on.

Every test runs once per entry of :data:`IMPLEMENTATIONS`, each built by
:class:`sathub.app.Installation` from its settings: SQLite (``DATA/access.db``) and PostgreSQL
(``SATHUB_PG_DSN``: the ``sathub`` schema beside the pgstac catalog). ``reopen`` gives a second,
independent store on the same state, as another process opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_support import pg_settings

from sathub.access import keys, quotas
from sathub.access.dates import month_of
from sathub.access.models import DAY_S, Activation
from sathub.access.service import AccessService
from sathub.access.state import AccessState
from sathub.app import Installation
from sathub.config import Settings
from sathub.errors import Conflict, InvalidInput, NotFound, QuotaExceeded

NOW = time.time()
BOX = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}


@dataclass
class World:
    service: AccessService
    reopen: Callable[[], AccessState]  # another process's store on the same state

    @property
    def store(self) -> AccessState:
        return self.service.store


@contextmanager
def _world(settings: Settings) -> Iterator[World]:
    opened: list[Installation] = []

    def reopen() -> AccessState:
        inst = Installation.open(settings)
        opened.append(inst)
        return inst.access.store

    with Installation.create(settings) as inst:
        try:
            yield World(inst.access, reopen)
        finally:
            for other in opened:
                other.close()


def sqlite_world(tmp: Path) -> AbstractContextManager[World]:
    return _world(Settings(data=tmp / "data"))


def pg_world(tmp: Path) -> AbstractContextManager[World]:
    return _world(pg_settings(tmp / "data"))


IMPLEMENTATIONS: dict[str, Callable[[Path], AbstractContextManager[World]]] = {
    "sqlite": sqlite_world,
    "postgresql": pg_world,
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with IMPLEMENTATIONS[request.param](tmp_path) as w:
        yield w


def test_backend_is_the_configured_one(world: World) -> None:
    assert world.store.backend in ("sqlite", "postgresql")
    assert world.reopen().backend == world.store.backend


def test_organisations_and_keys(world: World) -> None:
    s = world.store
    a = s.add_org("Univ A", "university")
    b = s.add_org("  Agency B ", "government")
    assert b.name == "Agency B" and b.id != a.id
    with pytest.raises(Conflict):
        s.add_org("Univ A", "company")
    with pytest.raises(InvalidInput):
        s.add_org("X", "pirates")
    assert [o.name for o in s.orgs()] == ["Univ A", "Agency B"]
    assert s.org(a.id) == a == s.org(str(a.id)) == s.org("Univ A")
    with pytest.raises(NotFound):
        s.org("nobody")
    with pytest.raises(InvalidInput):
        s.add_key("h0", "p0", "partner", None)
    token, key = keys.issue(s, "partner", a.id, label="k", expires=NOW + DAY_S)
    found = s.key_by_hash(keys.hash_token(token))
    assert found is not None and found[0] == key == s.key(key.id)
    assert s.keys(a.id) == [key] and s.keys(b.id) == [] and key in s.keys()
    assert s.any_key()
    s.revoke_key(key.id, now=NOW)
    s.revoke_key(key.id, now=NOW + 5)  # the first revocation stays
    assert s.key(key.id).revoked == NOW
    with pytest.raises(NotFound):
        s.revoke_key(10_000)
    s.touch_key(key.id, NOW)
    s.touch_key(key.id, NOW + 30)  # at most once a minute
    assert s.key(key.id).last_used == NOW
    s.touch_key(key.id, NOW + 61)
    assert world.reopen().key(key.id).last_used == NOW + 61


def test_agreements(world: World) -> None:
    s = world.store
    org = s.add_org("P", "company").id
    a = s.add_agreement(org, title="t", collections=["c1", "c2"], aoi=BOX, quota_bytes=10)
    assert a.collections == ("c1", "c2") and a.aoi == BOX and a.quota_bytes == 10
    assert s.agreement(a.id) == a and s.agreements(org) == [a] and s.agreements() == [a]
    b = s.update_agreement(a.id, status="suspended", collections=["c3"])
    assert b.status == "suspended" and b.collections == ("c3",)
    assert world.reopen().agreement(a.id) == b
    with pytest.raises(NotFound):
        s.add_agreement(org + 100, title="t", collections=["c1"])
    with pytest.raises(NotFound):
        s.agreement(a.id + 100)
    with pytest.raises(InvalidInput):
        s.add_agreement(org, title="t", collections=[])
    assert s.agreements(org) == [b]  # the refused ones wrote nothing


def test_collection_levels_follow_derived_products(world: World) -> None:
    s = world.store
    s.add_derived("ndvi", "s2")
    s.add_derived("ndvi", "s2")  # twice: one link
    s.add_derived("ndvi-monthly", "ndvi")
    assert s.derived_of("s2") == {"ndvi"}
    assert sorted(s.set_collection_level("s2", "restricted")) == ["ndvi", "ndvi-monthly", "s2"]
    assert s.restricted_collections() == {"s2", "ndvi", "ndvi-monthly"}
    s.set_collection_level("ndvi", "open")  # opening does not open what derives from it
    assert s.restricted_collections() == {"s2", "ndvi-monthly"}
    s.add_derived("flood", "s2")  # derived from a restricted source: restricted at once
    assert "flood" in world.reopen().restricted_collections()
    with pytest.raises(InvalidInput):
        s.set_collection_level("s2", "secret")


def test_activations(world: World) -> None:
    s = world.store
    org = s.add_org("Responders", "government").id
    a = s.add_activation(Activation(id=0, name="flood", aoi=BOX, acquired_from=None,
                                    acquired_to=None, org_ids=(org,), collections=("s2",),
                                    opened=NOW, expires=NOW + DAY_S, opened_by="admin"))  # fmt: skip
    assert a.id > 0 and a.org_ids == (org,) and s.activation(a.id) == a
    assert s.activations(in_force_at=NOW + 1) == [a] == s.activations()
    closed = s.close_activation(a.id, now=NOW + 10)
    assert closed.expires == NOW + 10 and s.activations(in_force_at=NOW + 11) == []
    with pytest.raises(NotFound):
        s.activation(a.id + 1)


def test_version_changes_with_every_change_an_actor_is_built_from(world: World) -> None:
    s, other = world.store, world.reopen()
    seen = [s.version()]

    def changed() -> None:
        v = other.version()  # another process sees each change
        assert v != seen[-1]
        seen.append(v)

    org = other.add_org("O", "company").id
    changed()
    token, key = keys.issue(other, "partner", org)
    changed()
    other.touch_key(key.id, NOW)  # a last use is no change
    assert s.version() == seen[-1]
    other.add_derived("x", "y")  # nor a derived-from link of open collections
    assert s.version() == seen[-1]
    a = other.add_agreement(org, title="t", collections=["c"])
    changed()
    other.update_agreement(a.id, status="suspended")
    changed()
    other.set_collection_level("c", "restricted")
    changed()
    other.revoke_key(key.id)
    changed()
    assert s.version() == seen[-1]


def test_actor_cache_sees_another_stores_change(world: World) -> None:
    svc, other = world.service, world.reopen()
    org = svc.store.add_org("P", "university").id
    token, key = keys.issue(svc.store, "partner", org)
    first = svc.actor(f"Bearer {token}", NOW)
    assert svc.actor(f"Bearer {token}", NOW) is first  # kept while nothing changes
    other.add_agreement(org, title="t", collections=["c1"])
    assert len(svc.actor(f"Bearer {token}", NOW).agreements) == 1
    other.revoke_key(key.id, now=NOW - 1)
    with pytest.raises(Exception, match="revoked"):
        svc.actor(f"Bearer {token}", NOW)


def test_audit_chain_quota_and_verify(world: World) -> None:
    svc = world.service
    log, s = svc.audit, svc.store
    org = s.add_org("P", "company").id
    agr = s.add_agreement(org, title="t", collections=["c"], quota_bytes=2500)
    first = log.append("key:1", "download", "c/i1/a", nbytes=1000, quota=agr)
    assert log.records()[-1]["seq"] == first
    log.append("key:1", "download", "c/i1/a", nbytes=1000, quota=agr)
    with pytest.raises(QuotaExceeded):
        log.append("key:1", "download", "c/i1/a", nbytes=1000, quota=agr)
    quotas.check(s, agr, 500)
    with pytest.raises(QuotaExceeded):
        quotas.check(s, agr, 501)
    assert quotas.used(s, agr.id, month_of(time.time())) == (2000, 2)
    hour = int(NOW // 3600) - 2  # a finished hour
    for _ in range(3):
        log.record_tile("key:1", "c/i2", nbytes=100, agreement_id=agr.id, activation_id=None,
                        now=hour * 3600 + 5, quota=agr)  # fmt: skip
    assert log.flush_tiles(NOW) == 1  # the hour is over: one record for its three tiles
    log.record_tile("key:2", "c/i3", nbytes=7, agreement_id=None, activation_id=None)  # this hour
    assert log.flush_tiles() == 0 and log.flush_tiles(everything=True) == 1
    tiles = [r for r in log.records(agreement_id=agr.id) if r["action"] == "tiles"]
    assert [(t["bytes"], t["detail"]["requests"]) for t in tiles] == [(300, 3)]
    result = log.verify()
    assert result.ok, result.problems
    assert any("quota counters" in c for c in result.checked)
    assert [r["seq"] for r in log.records()] == list(range(1, result.records + 1))


def test_verify_names_rows_and_records_changed_outside_the_api(world: World) -> None:
    svc = world.service
    org = svc.add_org("admin", "Victim", "company")
    svc.audit.append("key:1", "download", "c/i/a", nbytes=10)
    assert svc.audit.verify().ok
    with svc.store.tx() as c:  # a raw edit, not through the API: no chained record
        c.execute("UPDATE orgs SET name = ? WHERE id = ?", ("Mallory", org.id))
        c.execute("UPDATE usage SET bytes = bytes + 1")
        last = c.execute("SELECT max(seq) FROM audit").fetchone()[0]
        c.execute("DELETE FROM audit WHERE seq = ?", (last,))
    result = svc.audit.verify()
    assert not result.ok
    text = "\n".join(result.problems)
    assert f"org:{org.id}: the row differs from its last chained version" in text
    assert f"the log ends at record {last - 1} but the head says {last}" in text


def test_a_failed_transaction_leaves_nothing(world: World) -> None:
    svc = world.service
    before = len(svc.audit.records())
    with pytest.raises(RuntimeError), svc.store.tx():
        svc.store.add_org("Ghost", "company")  # its state record is in the same transaction
        svc.audit.append("key:1", "download", "c/i/a", nbytes=10)
        raise RuntimeError("crash before commit")
    assert len(svc.audit.records()) == before
    with pytest.raises(NotFound):
        svc.store.org("Ghost")
    assert svc.audit.verify().ok


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 400), min_size=1, max_size=12), quota=st.integers(0, 1200))
def test_quota_grants_what_fits_and_nothing_more(impl: str, tmp_path_factory: Any,
                                                 sizes: list[int], quota: int) -> None:  # fmt: skip
    """Against a brute-force model: each download is granted iff it fits in what is left."""
    with IMPLEMENTATIONS[impl](tmp_path_factory.mktemp(impl)) as w:
        org = w.store.add_org("Q", "company").id
        agr = w.store.add_agreement(org, title="q", collections=["c"], quota_bytes=quota)
        used, granted = 0, []
        for n in sizes:
            try:
                w.service.audit.append("key:1", "download", "c/i/a", nbytes=n, quota=agr)
                granted.append(True)
            except QuotaExceeded:
                granted.append(False)
        for n, ok in zip(sizes, granted, strict=True):
            assert ok == (used + n <= quota)
            used += n if ok else 0
        assert quotas.used(w.store, agr.id, month_of(time.time())) == (used, sum(granted))
        assert w.service.audit.verify().ok

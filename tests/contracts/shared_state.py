"""The contract suites of the state several API machines share beside the catalog and the
access data: the key of signed links (:class:`sathub.storage.signing.SigningKeyStore`) and the
registered mosaic searches (:class:`sathub.tiles.searches.SearchStore`).

Every test runs on each backend of :data:`state_support.BACKENDS`, built by the Installation:
the embedded files (``DATA/secrets/signing.key``, ``DATA/searches/``) and PostgreSQL
(``sathub.signing_keys``, ``sathub.mosaic_searches``). "Another machine" is the same state
opened again in other processes (their own connections and stores), as an API worker does.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from state_support import BACKENDS, in_processes, installation, reopen, settings_for

from sathub.app import Installation
from sathub.errors import Forbidden
from sathub.storage import signing
from sathub.tiles.searches import FileSearchStore, SearchStore


@pytest.fixture(params=BACKENDS)
def inst(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Installation]:
    with installation(request.param, tmp_path) as inst:
        yield inst


# ------------------------------------------------------------------------ signing key
def _key_in_process(data: str, pg_dsn: str | None, i: int, barrier: Any) -> str:
    with reopen(data, pg_dsn) as inst:
        barrier.wait()  # every process asks for the (not yet made) key at the same moment
        return inst.signing_key.hex()


def test_every_machine_makes_and_then_uses_the_same_signing_key(inst: Installation) -> None:
    assert inst.signing_keys.get() is None  # a new installation has none until a link is signed
    keys = in_processes(inst, _key_in_process, 3)
    assert len(set(keys)) == 1 and len(bytes.fromhex(keys[0])) == 32  # the first writer won
    assert inst.signing_keys.get() == bytes.fromhex(keys[0]) == inst.signing_key
    other = secrets.token_bytes(32)
    assert inst.signing_keys.adopt(other) == inst.signing_key  # a later key does not replace it
    assert inst.signing_keys.get() == inst.signing_key


def test_a_link_signed_by_one_machine_verifies_on_another(inst: Installation) -> None:
    expires, sig = signing.sign(inst.signing_key, "c", "i", "data", 60, kid="7")
    s = inst.settings
    with reopen(str(s.data), s.pg_dsn) as other:
        signing.verify(other.signing_key, "c", "i", "data", str(expires), sig, "7")
        with pytest.raises(Forbidden):  # bound to its asset
            signing.verify(other.signing_key, "c", "i", "thumb", str(expires), sig, "7")


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_existing_key_file_is_adopted_not_replaced(backend: str, tmp_path: Path) -> None:
    """An installation that signed links with ``DATA/secrets/signing.key`` keeps them valid
    when its state moves to PostgreSQL (and the embedded one keeps using its file)."""
    settings = settings_for(backend, tmp_path / "data")
    Installation.create(settings).close()
    old = secrets.token_bytes(32)
    (settings.layout.secrets / "signing.key").write_text(old.hex() + "\n")
    with Installation.open(settings) as inst:
        assert inst.signing_key == old
        assert inst.signing_keys.get() == old
    (settings.layout.secrets / "signing.key").unlink()  # adopted: no longer needed on PostgreSQL
    with Installation.open(settings) as inst:
        assert inst.signing_keys.get() == (old if settings.pg_dsn else None)


# --------------------------------------------------------------------- mosaic searches
def _store(inst: Installation, max_entries: int) -> SearchStore:
    """The installation's kind of search store, with its own capacity (another worker's)."""
    if inst.settings.pg_dsn:
        from sathub.tiles.searches_pg import PgSearchStore

        return PgSearchStore(inst.state_pool, max_entries)
    return FileSearchStore(inst.settings.layout.root / "searches", max_entries)


BODIES = [
    {"collections": ["open"]},
    {"ids": ["a", "b"], "bbox": [-1.5, -2.25, 3.0, 4.0]},
    {"filter": {"op": "=", "args": [{"property": "note"}, "é\u0000☃"]}, "filter-lang": "cql2-json"},
    {"datetime": "2026-01-01T00:00:00Z/..", "sortby": [{"field": "datetime", "direction": "desc"}]},
]


def _search_in_process(data: str, pg_dsn: str | None, i: int, barrier: Any, ids: list[str]) -> list[Any]:
    with reopen(data, pg_dsn) as inst:
        barrier.wait()
        return [inst.mosaic_searches.get(x) for x in ids]


def test_a_registered_search_is_read_back_exactly_by_every_machine(inst: Installation) -> None:
    store = inst.mosaic_searches
    assert store.ids() == []
    ids = [f"{n:024x}" for n in range(len(BODIES))]
    for search_id, body in zip(ids, BODIES, strict=True):
        store.put(search_id, body)
        store.put(search_id, body)  # registering again keeps one
    assert sorted(store.ids()) == ids
    assert [store.get(x) for x in ids] == BODIES
    got = in_processes(inst, _search_in_process, 2, ids + ["f" * 24])
    assert got == [BODIES + [None]] * 2  # others read the same bodies; an unknown id is None


@pytest.mark.parametrize("bad", ["../../etc/passwd", "x" * 65, "", "a b", "é"])
def test_a_malformed_id_is_unknown(inst: Installation, bad: str) -> None:
    assert inst.mosaic_searches.get(bad) is None


def test_a_store_keeps_at_most_its_capacity(inst: Installation) -> None:
    store = _store(inst, 10)
    for n in range(25):
        store.put(f"s{n:04d}", {"ids": [str(n)]})
    kept = store.ids()
    assert len(kept) == 10 and len(set(kept)) == 10
    fresh = _store(inst, 10)  # another worker: nothing from the first one's memory
    assert all(fresh.get(x) == {"ids": [str(int(x[1:]))]} for x in kept)

"""The OrbitStore contract suite (:class:`sathub.orbits.store.OrbitStore`: satellites, element
sets, orders): random sequences of writes and reads checked step by step against plain dicts
that do what the contract says (hypothesis); and concurrent order changes from several
processes: none lost, and of two status changes that exclude each other exactly one applies.

Every test runs on each backend of :data:`state_support.BACKENDS`: the embedded store (JSON
files in ``DATA/orbits/``) and PostgreSQL (``sathub.orbits_*``), built by the Installation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import shapely.geometry as sg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_support import BACKENDS, in_processes, installation, reopen

from sathub.app import Installation
from sathub.errors import Conflict
from sathub.orbits.orders import OrderBook, OrderRequest
from sathub.orbits.store import epoch_of

_examples = itertools.count(1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=BACKENDS)
def inst(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(request.param, tmp_path_factory.mktemp(f"orbits-{request.param}")) as inst:
        yield inst


TEXT = st.text(max_size=6)  # any text, NUL included: documents come back as written
SATS = st.builds(lambda n, name, extra: {"norad_id": n, "name": name, "extra": extra},
                 st.integers(0, 3), TEXT, st.none() | st.lists(st.integers(), max_size=2))  # fmt: skip
# one instant written two ways counts once
EPOCHS = st.integers(0, 3).flatmap(lambda h: st.sampled_from([
    (T0 + timedelta(hours=h)).isoformat(), (T0 + timedelta(hours=h)).isoformat().replace("+00:00", "Z")]))
ELEMENTS = st.tuples(st.integers(0, 3), st.builds(lambda e, l1: {"epoch": e, "line1": l1}, EPOCHS, TEXT))
OPS = st.one_of(
    st.tuples(st.just("put"), st.lists(SATS, max_size=3), st.booleans()),
    st.tuples(st.just("elements"), st.lists(ELEMENTS, max_size=4)),
    st.tuples(st.just("order"), st.integers(0, 3), TEXT),
    st.tuples(st.just("update"), st.integers(0, 3), TEXT),
    st.tuples(st.just("fail"), st.integers(0, 3)),
    st.tuples(st.just("read")),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(ops=st.lists(OPS, max_size=25))
def test_operations_do_what_dicts_do(inst: Installation, ops: list[tuple[Any, ...]]) -> None:
    store = inst.orbits
    base = next(_examples) * 1000 + (17 if inst.settings.pg_dsn else 0)  # ids of this example only
    sats: dict[int, dict[str, Any]] = {}
    elements: dict[int, dict[datetime, dict[str, Any]]] = {}
    orders: dict[str, dict[str, Any]] = {}

    def mine_orders() -> list[dict[str, Any]]:
        return [o for o in store.orders() if o["id"].startswith(f"o{base}-")]

    for op, *args in ops:
        if op == "put":
            docs = [d | {"norad_id": base + d["norad_id"]} for d in args[0]]
            store.put_satellites(docs, only_new=args[1])
            for d in docs:
                if not (args[1] and d["norad_id"] in sats):
                    sats[d["norad_id"]] = d
        elif op == "elements":
            recs = [(base + n, r) for n, r in args[0]]
            new = 0
            for n, r in recs:
                if epoch_of(r) not in elements.setdefault(n, {}):
                    elements[n][epoch_of(r)] = r
                    new += 1
            assert store.add_elements(recs) == new, (op, args)
        elif op == "order":
            oid = f"o{base}-{args[0]}"
            if oid not in orders:
                orders[oid] = {"id": oid, "status": "received", "note": args[1], "history": []}
                store.add_order(orders[oid])
        elif op == "update":
            oid = f"o{base}-{args[0]}"
            got = store.update_order(oid, lambda d, t=args[1]: d | {"history": [*d["history"], t]})
            if oid in orders:
                orders[oid] = orders[oid] | {"history": [*orders[oid]["history"], args[1]]}
            assert got == orders.get(oid), (op, args)
        elif op == "fail":  # a change that raises writes nothing
            oid = f"o{base}-{args[0]}"

            def refuse(d: dict[str, Any]) -> dict[str, Any]:
                raise Conflict("refused")

            if oid in orders:
                with pytest.raises(Conflict):
                    store.update_order(oid, refuse)
            else:
                assert store.update_order(oid, refuse) is None
        else:
            got = {k: v for k, v in store.satellites().items() if base <= k < base + 1000}
            assert got == sats
            assert sorted(mine_orders(), key=lambda o: o["id"]) == sorted(orders.values(), key=lambda o: o["id"])
    for oid, doc in orders.items():
        assert store.order(oid) == doc
    assert store.order(f"o{base}-9") is None and store.order("x\x00y") is None
    got_el = {k: v for k, v in store.elements().items() if base <= k < base + 1000}
    for n, by_epoch in elements.items():
        assert got_el[n] == [by_epoch[e] for e in sorted(by_epoch)]  # oldest epoch first
    assert set(got_el) == set(elements)


def test_documents_keep_integers_beyond_64_bits(inst: Installation) -> None:
    """Whatever codec the process has made psycopg's global one: importing ``pypgstac.db``
    makes it orjson, which refuses such integers when writing and reads them as floats."""
    import pypgstac.db  # noqa: F401  (its import sets psycopg's global JSON codec)

    doc = {"norad_id": 990_001, "name": "BIG", "extra": [2**70, -(2**65), 10**30 + 1]}
    inst.orbits.put_satellites([doc], only_new=False)
    assert inst.orbits.satellites()[990_001] == doc
    order = {"id": "o-big", "status": "received", "note": "", "history": [2**64]}
    inst.orbits.add_order(order)
    assert inst.orbits.order("o-big") == order


AOI = dict(sg.mapping(sg.box(96.0, 19.7, 96.2, 19.9)))
REQUEST = OrderRequest(aoi=AOI, start=T0, end=T0 + timedelta(days=2), priority="urgent")
RACERS, NOTES = 6, 5


def _annotate(data: str, pg_dsn: str | None, i: int, barrier: Any, order_id: str) -> int:
    inst = reopen(data, pg_dsn)
    barrier.wait()
    for n in range(NOTES):  # a planned order re-planned: each change appends to the history
        OrderBook(inst.orbits).transition(order_id, "planned", note=f"{i}-{n}")
    inst.close()
    return NOTES


def test_concurrent_changes_of_one_order_are_all_kept(inst: Installation) -> None:
    book = OrderBook(inst.orbits)
    order = book.create(REQUEST, created_by="test")
    book.transition(order.id, "planned")
    in_processes(inst, _annotate, RACERS, order.id)
    notes = [h.note for h in book.get(order.id).history if h.note]
    assert sorted(notes) == sorted(f"{i}-{n}" for i in range(RACERS) for n in range(NOTES))
    for i in range(RACERS):  # each process's changes in its order
        mine = [n for n in notes if n.startswith(f"{i}-")]
        assert mine == [f"{i}-{n}" for n in range(NOTES)]


def _finish(data: str, pg_dsn: str | None, i: int, barrier: Any, order_id: str) -> str:
    inst = reopen(data, pg_dsn)
    book = OrderBook(inst.orbits)
    barrier.wait()
    try:
        book.transition(order_id, "delivered" if i % 2 else "failed", note=f"by {i}")
        return "ok"
    except Conflict:
        return "refused"
    finally:
        inst.close()


def test_of_exclusive_status_changes_exactly_one_applies(inst: Installation) -> None:
    book = OrderBook(inst.orbits)
    order = book.create(REQUEST, created_by="test")
    book.transition(order.id, "planned")
    book.transition(order.id, "acquired", item_id="S2A_X")
    outcomes = in_processes(inst, _finish, RACERS, order.id)
    assert sorted(outcomes) == ["ok"] + ["refused"] * (RACERS - 1)
    final = book.get(order.id)
    winner = outcomes.index("ok")
    assert final.status == ("delivered" if winner % 2 else "failed")
    assert [h.status for h in final.history] == ["received", "planned", "acquired", final.status]
    assert final.history[-1].note == f"by {winner}"

"""The SessionStore contract suite (:class:`sathub.access.sessions.SessionStore`, the console's
sessions): random sequences of adds, reads, touches, deletes and purges, checked step by step
against a plain dict that does what the contract says (hypothesis), and a session's fields
kept exactly.

Every test runs once per entry of :data:`IMPLEMENTATIONS`, built by
:class:`sathub.app.Installation`: SQLite (``DATA/sessions.db``) and PostgreSQL
(``sathub.access_sessions``, shared by several workers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sathub.access.sessions import Session, SessionStore
from sathub.app import Installation
from sathub.config import Settings


@contextmanager
def sqlite_store(tmp: Path) -> Iterator[SessionStore]:
    with Installation.create(Settings(data=tmp / "data")) as inst:
        yield inst.sessions.store


@contextmanager
def pg_store(tmp: Path) -> Iterator[SessionStore]:
    """``sathub.access_sessions`` of a new database (``SATHUB_PG_DSN``)."""
    from pg_support import pg_settings

    with Installation.create(pg_settings(tmp / "data")) as inst:
        yield inst.sessions.store


# name → a fresh, empty store in a temporary directory
IMPLEMENTATIONS: dict[str, Callable[[Path], AbstractContextManager[SessionStore]]] = {
    "sqlite": sqlite_store,
    "postgresql": pg_store,
}

IDS = st.sampled_from([f"{n:064x}" for n in range(6)])  # few ids: operations meet each other
KEYS = st.integers(1, 3)
TIMES = st.integers(0, 100).map(float)
SESSIONS = st.builds(lambda i, k, c, t0, life: Session(i, k, f"csrf-{c}", t0, t0, t0 + life),
                     IDS, KEYS, st.integers(0, 9), TIMES, st.integers(1, 100).map(float))  # fmt: skip
OPS = st.one_of(
    st.tuples(st.just("add"), SESSIONS),
    st.tuples(st.just("get"), IDS),
    st.tuples(st.just("touch"), IDS, TIMES),
    st.tuples(st.just("delete"), IDS),
    st.tuples(st.just("delete_for_key"), KEYS),
    st.tuples(st.just("purge"), TIMES, TIMES),
)


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=40))
def test_operations_do_what_a_dict_does(impl: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, IMPLEMENTATIONS[impl](Path(tmp)) as store:
        model: dict[str, Session] = {}
        for op, *args in ops:
            if op == "add":
                s = args[0]
                if s.id in model:  # ids are SHA-256 of fresh random tokens: never added twice
                    continue
                store.add(s)
                model[s.id] = s
            elif op == "get":
                assert store.get(args[0]) == model.get(args[0]), (op, args)
            elif op == "touch":  # last_seen only moves forward
                store.touch(*args)
                if args[0] in model:
                    s = model[args[0]]
                    model[s.id] = replace(s, last_seen=max(s.last_seen, args[1]))
            elif op == "delete":
                store.delete(args[0])
                model.pop(args[0], None)
            elif op == "delete_for_key":
                gone = [i for i, s in model.items() if s.key_id == args[0]]
                assert store.delete_for_key(args[0]) == len(gone), (op, args)
                for i in gone:
                    del model[i]
            else:  # purge: idle (last seen before idle_before) or past the end
                idle_before, now = args
                gone = [i for i, s in model.items() if s.last_seen < idle_before or s.expires < now]
                assert store.purge(idle_before, now) == len(gone), (op, args)
                for i in gone:
                    del model[i]
        for i in {f"{n:064x}" for n in range(6)}:
            assert store.get(i) == model.get(i)


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_a_session_comes_back_exactly(impl: str, tmp_path: Path) -> None:
    s = Session("a" * 64, 7, "x" * 43, 1_764_000_000.123456, 1_764_000_001.5, 1_764_043_200.25)
    with IMPLEMENTATIONS[impl](tmp_path) as store:
        store.add(s)
        assert store.get(s.id) == s
        assert store.get("b" * 64) is None
        store.touch(s.id, s.last_seen - 10)  # an older request finishing late
        assert store.get(s.id) == s

"""schemathesis over every operation of the OpenAPI document as an admin, in a throwaway data
directory it may damage (its writes succeed: keys, agreements, collections, items, the
registry, jobs): no 5xx, no traceback. Seed, budget and checks: tests/schemathesis_support.py."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("schemathesis")
import schemathesis_support as st

WORLD = st.world("admin")
schema = st.load(WORLD)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    st.name_items(metafunc, "admin")


@schema.parametrize()
@st.SETTINGS
def test_admin(case: Any, actor: str) -> None:
    st.check(case, WORLD, actor)


def test_every_operation_got_its_examples() -> None:
    st.assert_budget(schema)

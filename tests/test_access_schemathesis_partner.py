"""schemathesis over every operation of the OpenAPI document as a partner with an agreement
(partnerA: restricted items inside its AOI, after the embargo): no 5xx, no traceback, no
restricted item outside its grants. Seed, budget and checks: tests/schemathesis_support.py."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("schemathesis")
import schemathesis_support as st

WORLD = st.world("partner")
schema = st.load(WORLD)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    st.name_items(metafunc, "partnerA")


@schema.parametrize()
@st.SETTINGS
def test_partner(case: Any, actor: str) -> None:
    st.check(case, WORLD, actor)


def test_every_operation_got_its_examples() -> None:
    st.assert_budget(schema)

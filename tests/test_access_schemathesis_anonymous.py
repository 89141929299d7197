"""schemathesis over every operation of the OpenAPI document as the anonymous public: no
5xx, no traceback, no restricted item in any answer. Seed, budget and checks:
tests/schemathesis_support.py."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("schemathesis")
import schemathesis_support as st

WORLD = st.world("public")
schema = st.load(WORLD)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    st.name_items(metafunc, "anonymous")


@schema.parametrize()
@st.SETTINGS
def test_anonymous(case: Any, actor: str) -> None:
    st.check(case, WORLD, actor)


def test_every_operation_got_its_examples() -> None:
    st.assert_budget(schema)

"""schemathesis's stateful phase in a throwaway data directory: sequences of calls that feed
each answer's ids into the next call (links schemathesis infers from the document, plus
tests/schemathesis_support.py's LINKS), as an admin (whose writes succeed) and as a partner
(whose writes must all be refused): no 5xx, no traceback; the admin's runs follow the
create → read → update → delete flows of collections and items, the access admin's
organisations → keys and agreements, and orbit orders."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

pytest.importorskip("schemathesis")
import schemathesis_support as st
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

STEPS: Counter[tuple[str, int, bool]] = Counter()  # (operation, status, reached through a link)


def _machine(actor: str) -> Any:
    world = st.world(f"stateful-{actor}")
    schema = st.load(world)
    st.add_links(schema)
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": st.headers(world, actor)}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            linked = input.transition is not None and input.is_applied
            STEPS[(input.case.operation.label, output.response.status_code, linked)] += 1
            return output

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:  # fmt: skip
            case.validate_response(response, checks=[not_a_server_error])
            assert b"Traceback" not in response.content, (case.method, case.formatted_path)
            if actor != "admin":
                assert st.SECRET not in response.text, (case.method, case.formatted_path)

    return Machine


MACHINE_SETTINGS = settings(max_examples=st.EXAMPLES, stateful_step_count=10, deadline=None,
                            derandomize=True, database=None,
                            suppress_health_check=list(HealthCheck))  # fmt: skip


def test_admin_stateful() -> None:
    _machine("admin").run(settings=MACHINE_SETTINGS)
    ok = {(label, linked) for (label, status, linked) in STEPS if status < 300}
    for label in ("POST /collections", "GET /collections/{collection_id}"):
        assert (label, True) in ok or (label, False) in ok, label


def test_partner_stateful() -> None:
    _machine("partnerA").run(settings=MACHINE_SETTINGS)

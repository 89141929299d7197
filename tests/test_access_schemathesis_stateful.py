"""schemathesis's stateful phase: sequences of calls that feed each answer's ids into the next
call (the links schemathesis infers from the document, plus tests/schemathesis_support.py's
LINKS), as an admin (whose writes succeed) and as a partner (whose writes are mostly refused):
no 5xx, no traceback, no restricted id in a partner's answers.

Every scenario runs against a world of its own: a new throwaway data directory, keys and app,
built in the machine's ``setup`` and removed in its ``teardown``. hypothesis decides which
rule to run next from what earlier answers put in the machine's bundles (a 201 from
``POST /admin/orgs`` enables the links that follow it), and it replays the prefixes of earlier
scenarios while it generates new ones: on a server whose state outlived a scenario, a replayed
``POST /admin/orgs`` of a name that now exists answered 409 instead of 201, the rule it had
enabled was gone, and hypothesis stopped with ``FlakyStrategyDefinition``. A fresh world makes
every answer a function of the scenario alone, so the run is deterministic (``derandomize``,
no example database, root rules shuffled by the suite's ``SEED``)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, timedelta
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("schemathesis")
import schemathesis_support as st
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as hs
from hypothesis.stateful import Bundle, initialize
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.python.asgi import shutdown_lifespans

from sathub.api.app import create_app

SCENARIOS = st.EXAMPLES  # scenarios per actor
STEPS_PER_SCENARIO = 15  # the first four are the creations below
MACHINE_SETTINGS = settings(max_examples=SCENARIOS, stateful_step_count=STEPS_PER_SCENARIO,
                            deadline=None, database=None,
                            suppress_health_check=list(HealthCheck))  # fmt: skip

# Each scenario opens with one valid creation of each resource the links act on (drawn, so they
# vary): the document types an AOI as any object and dates as any string, so schemathesis's own
# bodies for these are almost all 400s and the chains would rarely start. Every later step is
# schemathesis's: a root operation, or a link from an earlier answer (these creations included).
_NAME = hs.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_BOX = hs.builds(lambda x, y, d: st.box(x, y, x + d, y + d), hs.integers(-170, 160),
                 hs.integers(-80, 70), hs.sampled_from([0.1, 0.5, 2]))  # fmt: skip
_DAY = hs.dates(min_value=date(2030, 1, 1), max_value=date(2035, 12, 31))
CREATIONS: dict[str, tuple[str, hs.SearchStrategy[dict[str, Any]]]] = {
    "org": ("/admin/orgs", hs.fixed_dictionaries({
        "name": _NAME.map("org-{}".format),
        "kind": hs.sampled_from(["government", "international", "university", "company", "individual"])})),
    "agreement": ("/admin/agreements", hs.fixed_dictionaries({
        "org": hs.sampled_from("ABCD"), "title": _NAME,
        "collections": hs.sampled_from([["res"], ["open", "res"]]),
        "status": hs.sampled_from(["draft", "active"]), "valid_to": _DAY.map(str)},
        optional={"aoi": _BOX, "embargo_days": hs.integers(0, 30)})),
    "activation": ("/admin/activations", hs.fixed_dictionaries({
        "name": _NAME, "aoi": _BOX, "days": hs.integers(1, 30)},
        optional={"orgs": hs.sampled_from([["D"], ["A", "D"]])})),
    "order": ("/orbits/orders", hs.builds(
        lambda aoi, day, days, priority, product: {
            "aoi": aoi, "start": f"{day}T00:00:00Z", "end": f"{day + timedelta(days)}T00:00:00Z",
            "priority": priority, "product": product},
        _BOX, _DAY, hs.integers(1, 20), hs.sampled_from(["disaster", "urgent", "high", "normal", "low"]),
        hs.sampled_from(["optical", "sar", "any"]))),
}  # fmt: skip

# (actor, operation, status, reached through a link that supplied its ids) → steps
Steps = Counter[tuple[str, str, int, bool]]


def machine(actor: str, steps: Steps) -> Any:
    """The state machine of the app's document, every scenario in a fresh world, as ``actor``."""
    schema = st.load(st.world(f"stateful-{actor}"))  # the document only: no call reaches it
    st.add_links(schema)
    base = schema.as_state_machine()

    created = Bundle("created")  # a name only: schemathesis files each answer by its status

    @seed(st.SEED)
    class Machine(base):  # type: ignore[misc,valid-type]
        rule_order_seed = st.SEED

        def create(self, path: str, body: dict[str, Any]) -> Any:
            case = schema[path]["POST"].Case(body=body, media_type="application/json")
            step = StepInput.initial(case)
            self.recorder.record_case(case=case)
            self.control.record_step(step, self.recorder)
            return self._step(step)

        @initialize(target=created, body=CREATIONS["org"][1])
        def create_org(self, body: dict[str, Any]) -> Any:
            return self.create(CREATIONS["org"][0], body)

        @initialize(target=created, body=CREATIONS["agreement"][1])
        def create_agreement(self, body: dict[str, Any]) -> Any:
            return self.create(CREATIONS["agreement"][0], body)

        @initialize(target=created, body=CREATIONS["activation"][1])
        def create_activation(self, body: dict[str, Any]) -> Any:
            return self.create(CREATIONS["activation"][0], body)

        @initialize(target=created, body=CREATIONS["order"][1])
        def create_order(self, body: dict[str, Any]) -> Any:
            return self.create(CREATIONS["order"][0], body)

        def setup(self) -> None:
            self.root = Path(tempfile.mkdtemp(prefix=f"sathub-stateful-{actor}-"))
            self.world = st.world_in(self.root / "data")
            self.app = create_app(self.world.settings)

        def teardown(self) -> None:
            shutdown_lifespans()  # the ASGI transport keeps every app it served alive until then
            self.world.service.close()
            shutil.rmtree(self.root, ignore_errors=True)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": st.headers(self.world, actor), "app": self.app}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            linked = input.transition is not None and input.is_applied
            steps[(actor, input.case.operation.label, output.response.status_code, linked)] += 1
            return output

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:  # fmt: skip
            case.validate_response(response, checks=[not_a_server_error])
            assert b"Traceback" not in response.content, (case.method, case.formatted_path)
            if actor != "admin":
                assert st.SECRET not in response.text, (case.method, case.formatted_path)

    return Machine


def answered(steps: Steps, actor: str, *, linked: bool | None = None) -> dict[str, set[int]]:
    """Operation → the statuses ``actor`` got (only through a link, or only without one)."""
    out: dict[str, set[int]] = {}
    for who, label, status, through_link in steps:
        if who == actor and linked in (None, through_link):
            out.setdefault(label, set()).add(status)
    return out


def ok(statuses: set[int]) -> bool:
    return any(200 <= status < 300 for status in statuses)


def test_admin_stateful() -> None:
    steps: Steps = Counter()
    machine("admin", steps).run(settings=MACHINE_SETTINGS)
    linked = answered(steps, "admin", linked=True)
    chained = {label for label, statuses in linked.items() if ok(statuses)}
    # every chain of LINKS was followed to a success with the id the previous answer gave:
    # organisation → key and agreement, agreement → suspend, terminate, renew and usage,
    # activation → close, order → read and cancel
    for label in ("POST /admin/keys", "POST /admin/agreements",
                  "POST /admin/agreements/{agreement_id}/suspend",
                  "POST /admin/agreements/{agreement_id}/terminate",
                  "POST /admin/agreements/{agreement_id}/renew", "GET /admin/usage/{agreement_id}",
                  "POST /admin/activations/{activation_id}/close",
                  "GET /orbits/orders/{order_id}", "POST /orbits/orders/{order_id}/status"):  # fmt: skip
        assert label in chained, (label, sorted(chained))


def test_partner_stateful() -> None:
    steps: Steps = Counter()
    machine("partnerA", steps).run(settings=MACHINE_SETTINGS)
    statuses = answered(steps, "partnerA")
    # a partner's own order is created and read back through its link …
    assert ok(statuses["POST /orbits/orders"]), statuses["POST /orbits/orders"]
    assert ok(answered(steps, "partnerA", linked=True)["GET /orbits/orders/{order_id}"])
    # … but no administration and no planning or status change succeeds, linked or not
    refused = {label: s for label, s in statuses.items()
               if label.split(" ")[1].startswith("/admin/") or label.startswith("POST /orbits/orders/")}  # fmt: skip
    assert {"POST /admin/orgs", "POST /admin/agreements", "POST /admin/activations",
            "POST /orbits/orders/{order_id}/status"} <= set(refused), sorted(refused)  # fmt: skip
    assert not {label for label, s in refused.items() if ok(s)}, refused

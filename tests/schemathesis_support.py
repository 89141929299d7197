"""What the schemathesis suite shares (tests/test_access_schemathesis_*.py): the worlds it runs
against, the fixed seed and the example budget, and the checks every response gets.

* Every operation of the OpenAPI document (``/admin``, ``/orbits``, ``/budget`` included) runs
  as the anonymous public, as a partner with an agreement (``partnerA``) and as an admin, each
  with at least ``EXAMPLES`` generated requests (``SATHUB_SCHEMATHESIS_EXAMPLES``, default 50;
  plus schemathesis's explicit and coverage cases), from the fixed ``SEED``: every run sends the
  same requests, so a failure reproduces.
* The public and the partner run against a world nobody writes to (their writes are refused);
  the admin's writes (keys, agreements, collections, items, the registry, jobs) go to a
  throwaway data directory of its own; the stateful phase (``schema.as_state_machine()``,
  links inferred by schemathesis plus the ones in :data:`LINKS`) builds a new one for every
  scenario (:func:`world_in`).
* Each test file builds its world at import (schemathesis parametrizes at collection), in a
  temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from test_access_fixtures import DAY, World, box, build_world, item

from sathub.api.app import create_app
from sathub.catalog.sqlite import SQLiteStore

SECRET = "restricted-secret"
SEED = 20261202
EXAMPLES = int(os.environ.get("SATHUB_SCHEMATHESIS_EXAMPLES", "50"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                    database=None, print_blob=True)  # fmt: skip
# The per-collection aggregate: stac-fastapi leaves collection_id out of the OpenAPI document
# (test_access_matrix covers it).
EXCLUDED = "^/collections/\\{collection_id\\}/aggregate$"

# Links schemathesis cannot infer: the admin routes answer a loosely typed object, so it guesses
# ``agreement_id`` where the answer has ``id``, and an organisation's name goes into a body, not
# a path. The stateful phase follows these from a new resource to what acts on it.
def _link(target: str, **parameters: str) -> dict[str, Any]:
    method, path = target.split(" ", 1)
    ref = "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()
    return {"operationRef": ref, "parameters": parameters}


LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/admin/orgs", "post"): {
        "OrgKey": {**_link("POST /admin/keys"), "requestBody": {"role": "partner", "org": "$response.body#/name"}},
        "OrgAgreement": {**_link("POST /admin/agreements"),
                         "requestBody": {"org": "$response.body#/name", "title": "t", "collections": ["res"]}},
    },
    ("/admin/keys", "post"): {"Revoke": _link("POST /admin/keys/{key_id}/revoke", key_id="$response.body#/id")},
    ("/admin/agreements", "post"): {
        name: _link(f"{m} /admin/{p}", agreement_id="$response.body#/id") for name, m, p in (
            ("Suspend", "POST", "agreements/{agreement_id}/suspend"),
            ("Terminate", "POST", "agreements/{agreement_id}/terminate"),
            ("Usage", "GET", "usage/{agreement_id}"))
    } | {"Renew": {**_link("POST /admin/agreements/{agreement_id}/renew", agreement_id="$response.body#/id"),
                   "requestBody": {"valid_to": "2036-06-30"}}},
    ("/admin/activations", "post"): {
        "Close": _link("POST /admin/activations/{activation_id}/close", activation_id="$response.body#/id")},
    ("/orbits/orders", "post"): {
        name: _link(f"{m} /orbits/orders/{{order_id}}{p}", order_id="$response.body#/id") for name, m, p in (
            ("Order", "GET", ""), ("Plan", "POST", "/plan"))
    } | {"Cancel": {**_link("POST /orbits/orders/{order_id}/status", order_id="$response.body#/id"),
                    "requestBody": {"status": "cancelled"}}},
}  # fmt: skip


def add_links(schema: Any) -> None:
    """Add :data:`LINKS` to the loaded document (before schemathesis builds the machine)."""
    for (path, method), links in LINKS.items():
        responses = schema.raw_schema["paths"][path][method]["responses"]
        responses["201"].setdefault("links", {}).update(links)


def world(name: str) -> World:
    """The access tests' world (open and restricted collections, organisations in every
    agreement state, a key per role) plus restricted items no actor but staff may see,
    whose id (``SECRET``) must never appear in a partner's or the public's answers."""
    tmp = Path(tempfile.mkdtemp(prefix=f"sathub-st-{name}-"))
    atexit.register(shutil.rmtree, tmp, True)
    return world_in(tmp / "data")


def world_in(data: Path) -> World:
    """:func:`world` in the data directory ``data`` (created; the caller removes it)."""
    w = build_world(data)
    store = SQLiteStore(w.settings.layout.catalog_db)
    now = time.time()
    store.bulk_upsert([item(f"{SECRET}-{k}", "res", box(-60 + k, -30, -59.5 + k, -29.5), now - 50 * DAY)
                       for k in range(5)])  # fmt: skip
    store.close()
    # The first tile request of a process imports rio-tiler (with xarray and pandas), even for
    # an item that does not exist (its colormap names are checked first): seconds of CPU that
    # on a loaded machine reach the 10 s request timeout. Paid here, once per process.
    import rio_tiler.colormap  # noqa: F401

    return w


def load(w: World) -> Any:
    """The OpenAPI document of an app on ``w``, with the fixed seed."""
    schema = schemathesis.openapi.from_asgi("/api", create_app(w.settings))
    schema.config.seed = SEED
    return schema.exclude(path_regex=EXCLUDED)


def headers(w: World, actor: str) -> dict[str, str]:
    return {} if actor == "anonymous" else {"Authorization": f"Bearer {w.keys[actor]}"}


CALLS: Counter[str] = Counter()  # operation label → requests sent (this process)


def check(case: Any, w: World, actor: str) -> None:
    """Send ``case`` as ``actor``: never a 5xx or a traceback; the public and partners never
    see a restricted item outside their grants."""
    response = case.call(headers=headers(w, actor))
    CALLS[case.operation.label] += 1
    case.validate_response(response, checks=[not_a_server_error])
    assert b"Traceback" not in response.content, (case.method, case.formatted_path)
    if actor != "admin":
        assert SECRET not in response.text, (case.method, case.formatted_path)
    if actor == "anonymous" and response.status_code < 300:
        assert '"id":"in"' not in response.text.replace(" ", ""), (case.method, case.formatted_path)


def has_input(operation: Any) -> bool:
    """Whether the document gives the operation any input (parameters or a body)."""
    return any(len(list(group)) for group in (operation.path_parameters, operation.query,
                                              operation.headers, operation.cookies, operation.body))  # fmt: skip


def assert_budget(schema: Any) -> None:
    """Every operation this process ran with an input in the document got at least
    ``EXAMPLES`` requests. One without (``GET /``, ``GET /conformance``…; stac-fastapi leaves
    the bodies of ``POST /collections`` and ``POST /aggregations`` out of the document) has
    nothing to vary but unknown query parameters, and hypothesis stops when it has tried them."""
    operations = {r.ok().label: r.ok() for r in schema.get_all_operations()}
    assert CALLS, "no operation ran"
    short = {label: n for label, n in CALLS.items()
             if n < EXAMPLES and label in operations and has_input(operations[label])}  # fmt: skip
    assert not short, short


def name_items(metafunc: Any, actor: str) -> None:
    """Parametrize the schemathesis test by its actor. Under pytest 9.2 the items that
    ``schema.parametrize()`` makes (one per operation) all get the test's bare node id, and
    pytest-xdist (``make test``) then ran only the first; a parameter makes each id unique
    (``test_partner[GET /search][partnerA]``)."""
    if "actor" in metafunc.fixturenames:
        metafunc.parametrize("actor", [actor])

"""schemathesis against the /budget routes as an admin (every permission) on the demo budget:
whatever the body, query or path, no 500 and no traceback. Bounded: a few examples per
operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings

from sathub.access import keys
from sathub.access.service import AccessService
from sathub.api.app import create_app
from sathub.budget import demo
from sathub.budget.service import BudgetService
from sathub.config import Settings

_STATE: dict[str, Any] = {}


def _schema() -> Any:
    import atexit
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="sathub-budget-st-"))
    atexit.register(shutil.rmtree, tmp, True)
    settings_ = Settings(data=tmp / "data")
    settings_.layout.create()
    access = AccessService.for_layout(settings_.layout)
    _STATE["key"] = keys.issue(access.store, "admin", None)[0]
    svc = BudgetService.for_settings(settings_, audit=access.audit)
    demo.build(svc, settings_.layout.root)
    svc.store.close()
    return schemathesis.openapi.from_asgi("/api", create_app(settings_)).include(path_regex="^/budget")


schema = _schema()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A parameter makes each operation's node id unique: under pytest 9 the items of
    ``schema.parametrize()`` share one id and pytest-xdist ran only the first operation."""
    if "actor" in metafunc.fixturenames:
        metafunc.parametrize("actor", ["admin"])


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_never_gets_a_500(case: Any, actor: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {_STATE['key']}"})
    assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.content[:500])
    assert b"Traceback" not in response.content

"""Shared helpers of the analytics tests: one small demo archive per test process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

DEMO_SIZE = 300  # px (the generator designs at 1000 px and scales); full size is 800


@functools.lru_cache(maxsize=1)
def demo_settings():  # type: ignore[no-untyped-def]
    """Settings of a demo archive built once per process at reduced size."""
    import pytest

    from sathub.app import Installation
    from sathub.app.demo import build
    from sathub.config import Settings
    from sathub.ingest import demo

    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "SIZE", DEMO_SIZE)
    try:
        root = Path(tempfile.mkdtemp(prefix="sathub-analytics-demo-"))
        atexit.register(shutil.rmtree, root, True)
        settings = Settings(data=root / "data")
        with Installation.create(settings) as inst:
            built = build(inst, seed=42, workers=1)
        assert built.ok, built.summary()
    finally:
        mp.undo()
    return settings


def demo_objects(settings):  # type: ignore[no-untyped-def]
    """The object store of an installation (its assets, as analytics reads them)."""
    from sathub.app import Installation

    return Installation.open(settings).objects


def test_support_module_has_no_tests_of_its_own() -> None:
    assert DEMO_SIZE > 0

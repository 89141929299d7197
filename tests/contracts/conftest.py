"""The contract suites are collected as test modules although their names do not start with
``test_``: ``catalog_store.py`` (every :class:`~sathub.catalog.store.CatalogStore`) and
``object_store.py`` (every :class:`~sathub.storage.base.ObjectStore`). Each is parametrised over
the implementations listed in its ``IMPLEMENTATIONS``; a new backend adds itself there (built
through :class:`sathub.app.Installation` from its settings) and gets the whole suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SUITES = {"access_store.py", "catalog_store.py", "object_store.py", "session_store.py",
          "job_store.py", "orbit_store.py", "budget_store.py", "shared_state.py"}  # fmt: skip


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    if file_path.name not in SUITES or file_path.parent != Path(__file__).parent:
        return None
    if parent.session.isinitpath(file_path):
        return None  # named on the command line: pytest collects it itself
    return pytest.Module.from_parent(parent, path=file_path)

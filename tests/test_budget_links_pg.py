"""Budget links name agreements of the installation's own access store: with the state in
PostgreSQL there is no access.db, and an agreement that exists there must resolve (and a
missing one answer NotFound naming it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg_support import pg_settings

from sathub.app.installation import Installation
from sathub.errors import NotFound


def test_an_agreement_link_resolves_in_the_postgresql_access_store(tmp_path: Path) -> None:
    with Installation.open(pg_settings(tmp_path / "d"), create=True) as inst:
        store = inst.access.store
        org = store.add_org("Ministry of Agriculture", "government").id
        agreement = store.add_agreement(org, title="crops", collections=["sentinel-2-l2a"])
        assert not (tmp_path / "d" / "access.db").exists()
        resolver = inst.budget.resolver
        assert resolver is not None
        assert resolver.resolve("agreement", str(agreement.id)) == str(agreement.id)
        with pytest.raises(NotFound):
            resolver.resolve("agreement", str(agreement.id + 1000))

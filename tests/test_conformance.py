"""The STAC API conformance suite (stac-api-validator, offline schemas) against a live server
loaded with the real items in ../shared/data/stac."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SHARED, LiveServer

VALIDATOR = SHARED.parent / "tools" / "stac-api-validator-offline"
CLASSES = [
    "core", "collections", "features", "item-search", "filter",
    "item-search#sort", "item-search#fields", "item-search#query",
    "features#sort", "features#fields", "features#query", "transaction",
]  # fmt: skip
AOI = {"type": "Polygon", "coordinates": [[[-105, 37], [-104, 37], [-104, 38], [-105, 38], [-105, 37]]]}


# Checks of the suite that contradict the specification; each is written up, with the spec text,
# in docs/conformance.md. Every other reported error fails this test.
DOCUMENTED = [
    # The suite first DELETEs the test item "if it exists" and demands 204; OGC API Features
    # Part 4 answers a DELETE of a resource that does not exist with an error (404).
    "had unexpected status code 404 instead of 204",
    # The suite excludes only `geometry` and then demands that the nested property it was told
    # to include elsewhere is absent; the Fields extension says every other field is kept.
    "{'exclude': ['geometry'], 'include': []}} response contained 'properties.platform'",
    "{'exclude': ['geometry'], 'include': None}} response contained 'properties.platform'",
]


def undocumented_errors(output: str) -> list[str]:
    if "Errors:" not in output:
        return []
    block = output.split("Errors:", 1)[1]
    lines = [ln for ln in block.splitlines() if ln.startswith("- ")]
    return [ln for ln in lines if not any(d in ln for d in DOCUMENTED)]


@pytest.mark.slow
def test_stac_api_validator_passes_every_class(live_server_each: LiveServer) -> None:
    """Every class, on each catalog backend (SQLite, pgstac)."""
    live_server = live_server_each
    if not VALIDATOR.exists():
        pytest.skip("stac-api-validator-offline is not beside the repository")
    from conftest import issue_key

    from sathub.app import Installation

    token = issue_key(Installation.open(live_server.settings), "operator")
    # the transaction class writes: an operator's key (reads are the same with or without it)
    args = [sys.executable, str(VALIDATOR), "--root-url", live_server.url, "--auth-bearer-token", token]
    for c in CLASSES:
        args += ["--conformance", c]
    args += [
        "--collection", "sentinel-2-l2a",
        "--geometry", json.dumps(AOI),
        "--transaction-collection", "naip",
        "--fields-nested-property", "properties.platform",
        "--query-comparison-field", "eo:cloud_cover",
        "--query-eq-value", "0.024509", "--query-neq-value", "5",
        "--query-lt-value", "10", "--query-lte-value", "10",
        "--query-gt-value", "10", "--query-gte-value", "10",
        "--query-substring-field", "platform",
        "--query-starts-with-value", "Sentinel", "--query-ends-with-value", "2A",
        "--query-contains-value", "tinel",
        "--query-in-field", "instruments", "--query-in-values", "msi,oli",
    ]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert "Failed. Error" not in output and "Traceback" not in output, output[-4000:]
    assert "schema(s) served from the bundle, 0 missing" in output, output[-4000:]
    errors = undocumented_errors(output)
    assert not errors, "\n".join(errors)

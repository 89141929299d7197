"""Bounded CQL2: hostile filters are 400s naming the limit, and never crash or bloat the server.

Each of these used to take the server down or answer 500 (issue 11, items 4 and 5): 2,000 nested
parentheses segfaulted inside cql2's parser, ``NOT (`` nested 100 deep took 2.1 GB, CQL2-JSON
nested 200 deep was a 500. The server runs in a subprocess under an address-space limit
(``RLIMIT_AS``), so a regression fails here instead of taking the machine down; after every
request the process must be alive, within 5 s, and its RSS less than 512 MB above where it
started. The scanners are also held to each other: the JSON text scan and the walk of decoded
JSON measure the same depth and node count.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import free_port
from sathub.catalog.cql2input import FilterLimits, check_json_text, check_text, check_value, parse_filter
from sathub.errors import InvalidFilter

MEMORY_LIMIT = 2 << 30  # address space of the server process (its baseline is ~450 MB)
RSS_GROWTH = 512 << 20
SECONDS = 5.0

SERVER = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
from sathub.api.server import serve
from sathub.app import Installation
from sathub.config import Settings
serve(Installation.open(Settings(data=sys.argv[1], port=int(sys.argv[2])), create=True))
"""


class LimitedServer:
    """sathub serve in a subprocess under an address-space limit."""

    def __init__(self, data: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "MALLOC_ARENA_MAX": "2", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(data), str(self.port), str(MEMORY_LIMIT)],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(self.url + "/conformance", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {self.stderr()}")
            time.sleep(0.2)
        self.baseline = self.rss()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request; the process must survive it, in time, within the memory bound."""
        t0 = time.time()
        try:
            r = httpx.request(method, self.url + path, timeout=SECONDS + 5, **kw)
        except httpx.HTTPError as exc:
            raise AssertionError(f"{method} {path[:80]}: {exc!r}; server: {self.stderr()}") from exc
        took = time.time() - t0
        assert self.proc.poll() is None, f"the server died: {self.stderr()}"
        assert took < SECONDS, f"{method} {path[:80]} took {took:.1f} s"
        grown = self.rss() - self.baseline
        assert grown < RSS_GROWTH, f"RSS grew by {grown >> 20} MB"
        return r

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _data(tmp: Path) -> Path:
    return tmp / "data"  # the server creates it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedServer]:
    s = LimitedServer(_data(tmp_path_factory.mktemp("limits")))
    yield s
    s.stop()


def nested_json(levels: int) -> dict[str, Any]:
    out: dict[str, Any] = {"op": "=", "args": [{"property": "id"}, "a"]}
    for _ in range(levels):
        out = {"op": "not", "args": [out]}
    return out


def _raw_body(levels: int) -> dict[str, Any]:
    """A search body whose filter nests ``levels`` NOTs, written as text (a JSON encoder would
    recurse)."""
    leaf = '{"op": "=", "args": [{"property": "id"}, "a"]}'
    text = '{"filter": ' + '{"op": "not", "args": [' * levels + leaf + "]}" * levels + "}"
    return {"content": text, "headers": {"content-type": "application/json"}}


def _q(f: str) -> dict[str, str]:
    return {"filter": f}


def _text(f: str) -> dict[str, Any]:
    """A long cql2-text filter goes in a POST body (URLs are limited by clients and servers)."""
    return {"json": {"filter": f, "filter-lang": "cql2-text"}}


# (what, method, path, request keywords, the setting the 400 must name)
HOSTILE: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    ("2,000 parentheses", "GET", "/search", {"params": _q("(" * 2000 + "id = 'a'" + ")" * 2000)},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("NOT ( 100 deep", "GET", "/search", {"params": _q("NOT (" * 100 + "id = 'a'" + ")" * 100)},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("NOT 500 times", "GET", "/search", {"params": _q("NOT " * 500 + "id = 'a'")}, "SATHUB_CQL2_MAX_DEPTH"),
    ("1,000 additions", "GET", "/search",
     {"params": _q("eo:cloud_cover = " + " + ".join("1" for _ in range(1000)))}, "SATHUB_CQL2_MAX_DEPTH"),
    ("1,000 subtractions without spaces", "GET", "/search",
     {"params": _q("eo:cloud_cover = 1" + "-1" * 1000)}, "SATHUB_CQL2_MAX_DEPTH"),
    ("casei 300 deep", "GET", "/search", {"params": _q("casei(" * 300 + "id" + ")" * 300 + " = 'a'")},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("20,000 ORs", "POST", "/search", _text(" OR ".join(f"id='{i}'" for i in range(20000))),
     "SATHUB_CQL2_MAX_CHARS"),
    ("6,000 ORs", "POST", "/search", _text(" OR ".join(f"id='{i}'" for i in range(6000))),
     "SATHUB_CQL2_MAX_NODES"),
    ("CQL2-JSON 50 deep in a body", "POST", "/search", {"json": {"filter": nested_json(50)}},
     "SATHUB_CQL2_MAX_DEPTH"),
    # a body nested deeper than SATHUB_MAX_JSON_DEPTH (128; 200 NOTs are 400 levels) is refused
    # by the body check (api/middleware.py) before any JSON parser runs
    ("CQL2-JSON 200 deep in a body", "POST", "/search", {"json": {"filter": nested_json(200)}},
     "SATHUB_MAX_JSON_DEPTH"),
    ("CQL2-JSON 900 deep in a body", "POST", "/search", _raw_body(900), "SATHUB_MAX_JSON_DEPTH"),
    ("CQL2-JSON 300 deep in a query string", "GET", "/search",
     {"params": {"filter": json.dumps(nested_json(300)), "filter-lang": "cql2-json"}}, "SATHUB_CQL2_MAX_DEPTH"),
    ("cql2-text 2,000 parentheses in a body", "POST", "/search",
     {"json": {"filter": "(" * 2000 + "id = 'a'" + ")" * 2000, "filter-lang": "cql2-text"}},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("a 200,000-character filter", "POST", "/search", _text("id = '" + "x" * 200_000 + "'"),
     "SATHUB_CQL2_MAX_CHARS"),
    ("items of a collection", "GET", "/collections/none/items",
     {"params": _q("(" * 2000 + "id = 'a'" + ")" * 2000)}, "SATHUB_CQL2_MAX_DEPTH"),
    ("collection search", "GET", "/collections", {"params": _q("NOT (" * 100 + "id = 'a'" + ")" * 100)},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("aggregate GET", "GET", "/aggregate", {"params": _q("(" * 2000 + "id = 'a'" + ")" * 2000)},
     "SATHUB_CQL2_MAX_DEPTH"),
    ("aggregate POST", "POST", "/aggregate", {"json": {"filter": nested_json(50)}}, "SATHUB_CQL2_MAX_DEPTH"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "method", "path", "kw", "setting"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_filter_is_a_400_naming_the_limit(server: LimitedServer, what: str, method: str, path: str,
                                                  kw: dict[str, Any], setting: str | None) -> None:  # fmt: skip
    r = server.request(method, path, **kw)
    if path == "/collections/none/items" and r.status_code == 404:
        return  # the collection is checked first: an unknown one is a 404 before its filter is read
    assert r.status_code == 400, (what, r.status_code, r.text[:300])
    body = r.json()
    if setting is not None:
        field = "body" if setting == "SATHUB_MAX_JSON_DEPTH" else "filter"
        assert body["field"] == field and setting in body["description"], body


def _circle(n: int) -> list[tuple[float, float]]:
    """A ring of n vertices (closed) around (-60, -20): negative coordinates, as WKT writes them."""
    pts = [(-60 + math.cos(2 * math.pi * k / n), -20 + math.sin(2 * math.pi * k / n)) for k in range(n)]
    return [*pts, pts[0]]


def test_filters_inside_the_limits_are_answered(server: LimitedServer) -> None:
    ok = [
        "(" * 19 + "id = 'a'" + ")" * 19,
        "NOT (" * 6 + "id = 'a'" + ")" * 6,
        "id = '" + "(" * 5000 + "'",  # parentheses inside a string literal are text
        '"id" = \'a\'',
        " OR ".join(f"id='{i}'" for i in range(1000)),
        "S_INTERSECTS(geometry, POLYGON((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in _circle(2000)) + ")))",
    ]
    for f in ok:
        r = server.request("POST", "/search", json={"filter": f, "filter-lang": "cql2-text"})
        assert r.status_code == 200, (f[:80], r.text[:300])
    r = server.request("POST", "/search", json={"filter": nested_json(8)})
    assert r.status_code == 200, r.text[:300]


def test_limits_are_settings(tmp_path: Path) -> None:
    s = LimitedServer(_data(tmp_path), env={"SATHUB_CQL2_MAX_DEPTH": "4", "SATHUB_CQL2_MAX_NODES": "5",
                                            "SATHUB_CQL2_MAX_CHARS": "60"})  # fmt: skip
    try:
        cases = [
            ("id = 'a'", 200, None),
            ("NOT (NOT (id = 'a'))", 400, "SATHUB_CQL2_MAX_DEPTH"),
            ("id = 'a' OR id = 'b'", 400, "SATHUB_CQL2_MAX_NODES"),
            ("id = '" + "x" * 60 + "'", 400, "SATHUB_CQL2_MAX_CHARS"),
        ]
        for f, status, setting in cases:
            r = s.request("GET", "/search", params={"filter": f})
            assert r.status_code == status, (f, r.text)
            if setting:
                assert setting in r.json()["description"]
        r = s.request("POST", "/search", json={"filter": nested_json(2)})
        assert r.status_code == 400 and "SATHUB_CQL2_MAX_DEPTH" in r.json()["description"]
    finally:
        s.stop()


def test_the_memory_limit_bites() -> None:
    """The harness is real: under the same limit, a process that needs more memory fails."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]),) * 2); "
            "b = bytearray(int(sys.argv[1]))")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code, str(MEMORY_LIMIT)], capture_output=True)
    assert r.returncode != 0 and b"MemoryError" in r.stderr
    assert resource.RLIMIT_AS  # the platform has address-space limits


# ----------------------------------------------------------------- the scanners
json_tree = st.recursive(
    st.one_of(st.integers(-5, 5), st.floats(-1e3, 1e3), st.text(alphabet="ab\"\\{}[]:, ", max_size=4),
              st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(["coordinates", "bbox", "op"]),
                                  st.text(alphabet="ab\"{[", max_size=3)), children, max_size=3)),
    max_leaves=40,
)  # fmt: skip


def _rejects(fn: Any, arg: Any, limits: FilterLimits) -> str | None:
    try:
        fn(arg, limits)
    except InvalidFilter as exc:
        return exc.message.split(",")[0]
    return None


@settings(max_examples=300, deadline=None)
@given(tree=json_tree, depth=st.integers(1, 8), nodes=st.integers(1, 30))
def test_json_text_scan_measures_like_the_walk(tree: Any, depth: int, nodes: int) -> None:
    """The one-pass scan of JSON text and the walk of decoded JSON agree on depth and nodes
    (coordinates included: their numbers are not nodes)."""
    limits = FilterLimits(max_chars=10**9, max_depth=depth, max_nodes=nodes)
    walked = _rejects(check_value, tree, limits)
    scanned = _rejects(check_json_text, json.dumps(tree), limits)
    assert (walked is None) == (scanned is None), (walked, scanned)


def test_depth_counts_what_parses_deep() -> None:
    limits = FilterLimits(max_chars=10**6, max_depth=20, max_nodes=10**6)
    deep = ["(" * 21 + "a = 1" + ")" * 21, "NOT " * 11 + "a = 1", "a = 1" + " - 1" * 11, "a = 1" + "-1" * 11,
            "a = 1" + " * 2" * 11, "a = 1" + " DIV 2" * 11, "casei(" * 11 + "a" + ")" * 11 + " = 'x'"]  # fmt: skip
    for text in deep:
        with pytest.raises(InvalidFilter, match="SATHUB_CQL2_MAX_DEPTH"):
            check_text(text, limits)
    shallow = ["a = -1", "a = 1 AND b = -2 AND c = 3" * 3, "S_INTERSECTS(geometry, POINT(-1 -2))",
               "a IN (-1, -2, -3)", "a = 'NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT'"]  # fmt: skip
    for text in shallow:
        check_text(text, limits)


def test_numbers_count_except_coordinates() -> None:
    limits = FilterLimits(max_chars=10**6, max_depth=20, max_nodes=100)
    with pytest.raises(InvalidFilter, match="SATHUB_CQL2_MAX_NODES"):
        check_text("eo:cloud_cover IN (" + ",".join(str(i) for i in range(200)) + ")", limits)
    with pytest.raises(InvalidFilter, match="SATHUB_CQL2_MAX_NODES"):
        check_value({"op": "in", "args": [{"property": "eo:cloud_cover"}, list(range(200))]}, limits)
    ring = [(-60 + math.cos(k / 40), -20 + math.sin(k / 40)) for k in range(250)]
    check_text("S_INTERSECTS(geometry, POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + ")))", limits)
    check_value({"op": "s_intersects", "args": [{"property": "geometry"},
                                                {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}]},
                limits)  # fmt: skip


def test_single_argument_and_or_is_its_argument() -> None:
    leaf = {"op": "=", "args": [{"property": "id"}, "a"]}
    assert parse_filter({"op": "and", "args": [leaf]}) == leaf
    assert parse_filter({"op": "or", "args": [{"op": "and", "args": [leaf]}]}) == leaf
    assert parse_filter(json.dumps({"op": "and", "args": [leaf]}), "cql2-json") == leaf


def test_between_with_bounds_in_an_array() -> None:
    """The STAC API validator sends CQL2's draft form of BETWEEN."""
    standard = parse_filter("eo:cloud_cover BETWEEN 0 AND 50")
    draft = {"op": "between", "args": [{"property": "eo:cloud_cover"}, [0, 50]]}
    assert parse_filter(draft) == standard

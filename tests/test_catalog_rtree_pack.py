"""The packed R*Tree (catalog/sqlite/rtree_pack.py) against SQLite's own: the same boxes to the
bit (SQLite's float32 rounding), a tree that passes rtreecheck(), the same answers as a
brute-force scan, and a tree SQLite keeps maintaining through later inserts and deletes."""

from __future__ import annotations

import random
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sathub.catalog.sqlite.rtree_pack import pack

DDL = "CREATE VIRTUAL TABLE {} USING rtree (rid, minx, maxx, miny, maxy)"


def _trees(rows: list[tuple[float, ...]]) -> sqlite3.Connection:
    c = sqlite3.connect(":memory:", isolation_level=None)
    c.execute(DDL.format("packed"))
    c.execute(DDL.format("inserted"))
    c.executemany("INSERT INTO inserted VALUES (?, ?, ?, ?, ?)", rows)
    if rows:
        size = c.execute("SELECT length(data) FROM packed_node WHERE nodeno = 1").fetchone()[0]
        pack(c, "packed", np.array(rows, dtype=np.float64), size)
    return c


def _hits(c: sqlite3.Connection, table: str, q: tuple[float, ...]) -> list[int]:
    return sorted(r[0] for r in c.execute(f"SELECT rid FROM {table} WHERE maxx >= ? AND minx <= ? "
                                          "AND maxy >= ? AND miny <= ?", q))  # fmt: skip


def _boxes(n: int, seed: int, step: int = 7) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        x, y = rng.uniform(-180, 178), rng.uniform(-90, 88)
        out.append((k * step + 1, x, x + rng.uniform(0, 2), y, y + rng.choice([0.0, rng.uniform(0, 2)])))
    return out


# step: row ids 7 apart are written row by row, row ids close together (a load's, with gaps
# for items without a box) in one statement over a JSON array (rtree_pack.write)
@pytest.mark.parametrize(("n", "step"), [(1, 7), (50, 7), (51, 7), (52, 7), (51 * 51, 7),
                                         (51 * 51 + 1, 7), (30_000, 7), (1, 1), (52, 1), (30_000, 1)])  # fmt: skip
def test_packed_tree_equals_sqlites_and_stays_maintainable(n: int, step: int) -> None:
    rows = _boxes(n, n, step)
    if step == 1:
        rows = [r for r in rows if r[0] % 5 != 3] or rows  # gaps
    c = _trees(rows)
    assert c.execute("SELECT rtreecheck('packed')").fetchone()[0] == "ok"
    assert c.execute("SELECT * FROM packed ORDER BY rid").fetchall() == \
        c.execute("SELECT * FROM inserted ORDER BY rid").fetchall()  # fmt: skip
    rng = random.Random(1)
    for _ in range(25):
        x, y = rng.uniform(-185, 175), rng.uniform(-95, 85)
        q = (x, x + rng.uniform(0, 30), y, y + rng.uniform(0, 20))
        brute = sorted(r[0] for r in rows if r[2] >= q[0] and r[1] <= q[1] and r[4] >= q[2] and r[3] <= q[3])
        assert _hits(c, "packed", q) == _hits(c, "inserted", q)
        assert set(brute) <= set(_hits(c, "packed", q))  # float32 boxes are rounded outwards
    for table in ("packed", "inserted"):  # SQLite maintains it from here on
        c.executemany(f"DELETE FROM {table} WHERE rid = ?", [(r[0],) for r in rows[::2]])
        c.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)",
                      [(10**7 + r[0], *r[1:]) for r in _boxes(100, n + 1)])  # fmt: skip
    assert c.execute("SELECT rtreecheck('packed')").fetchone()[0] == "ok"
    assert c.execute("SELECT * FROM packed ORDER BY rid").fetchall() == \
        c.execute("SELECT * FROM inserted ORDER BY rid").fetchall()  # fmt: skip


_coord = st.floats(-1e7, 1e7, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_coord, st.floats(0, 1e3), _coord, st.floats(0, 1e3)), min_size=1, max_size=300))
def test_float32_rounding_matches_sqlite_for_any_box(boxes: list[tuple[float, ...]]) -> None:
    rows = [(k + 1, x, x + w, y, y + h) for k, (x, w, y, h) in enumerate(boxes)]
    c = _trees(rows)
    assert c.execute("SELECT rtreecheck('packed')").fetchone()[0] == "ok"
    assert c.execute("SELECT * FROM packed ORDER BY rid").fetchall() == \
        c.execute("SELECT * FROM inserted ORDER BY rid").fetchall()  # fmt: skip

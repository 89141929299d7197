"""Bulk-build the SQLite R*Tree of a catalog in one pass (Sort-Tile-Recursive packing).

Inserting a million boxes one by one into SQLite's R*Tree costs ~12 µs each (node splits and
forced reinserts), the largest single step of a bulk load into an empty catalog. Here the tree
is packed instead (Leutenegger et al., "STR: a simple and efficient algorithm for R-tree
packing", 1997): boxes sorted into vertical slices by centre x, each slice by centre y, cut
into full nodes; the same again one level up until one root is left. The nodes are written in
SQLite's own R*Tree format (the ``%_node``, ``%_parent`` and ``%_rowid`` shadow tables of an
``rtree`` virtual table with two dimensions of 32-bit floats, rtree.c): a 2-byte depth (root
only) and a 2-byte cell count, then cells of a big-endian 64-bit row id (or child node) and
four big-endian floats (min x, max x, min y, max y), minima rounded down and maxima up
exactly as SQLite rounds them. The result is an ordinary R*Tree that SQLite then maintains as usual;
``rtreecheck()`` verifies it (the tests do).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import orjson

CELL = np.dtype([("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")])


# SQLite's rounding of a double to a box's 32-bit float (rtree.c, rtreeValueDown/Up): to the
# nearest float, then, when that moved the bound inwards, the double scaled by 1 -/+ 2**-23
TOWARDS = 1.0 - 1.0 / 8388608.0
AWAY = 1.0 + 1.0 / 8388608.0


def _down(d: np.ndarray) -> np.ndarray:
    f = d.astype(np.float32)
    m = f.astype(np.float64) > d
    f[m] = (d[m] * np.where(d[m] < 0, AWAY, TOWARDS)).astype(np.float32)
    return f


def _up(d: np.ndarray) -> np.ndarray:
    f = d.astype(np.float32)
    m = f.astype(np.float64) < d
    f[m] = (d[m] * np.where(d[m] < 0, TOWARDS, AWAY)).astype(np.float32)
    return f


def _str_order(cells: np.ndarray, cap: int) -> np.ndarray:
    """The STR order of ``cells``: slices by centre x, each sorted by centre y."""
    n = len(cells)
    cx = cells["minx"].astype(np.float64) + cells["maxx"]
    cy = cells["miny"].astype(np.float64) + cells["maxy"]
    nodes = -(-n // cap)
    slices = int(np.ceil(np.sqrt(nodes)))
    per = slices * cap  # cells per slice
    by_x = np.argsort(cx, kind="stable")
    parts = [s[np.argsort(cy[s], kind="stable")] for s in (by_x[i : i + per] for i in range(0, n, per))]
    return np.concatenate(parts) if parts else by_x


@dataclass
class Packed:
    """A packed tree, ready to write: the rows of the three shadow tables."""

    nodes: list[tuple[int, bytes]]  # (node number, node blob)
    parents: list[tuple[int, int]]  # (child node, parent node)
    rids: np.ndarray  # the row id of every entry, ascending (int64)
    leaves: np.ndarray  # the leaf node number of each (int64)


def plan(rows: np.ndarray, node_size: int) -> Packed:
    """The packed tree of ``rows`` (an (n, 5) float64 array: row id, min x, max x, min y,
    max y) in nodes of ``node_size`` bytes. No database: it may run in another thread while
    the connection works (numpy releases the GIL in its sorts)."""
    cap = (node_size - 4) // CELL.itemsize
    cells = np.empty(len(rows), dtype=CELL)
    cells["id"] = rows[:, 0].astype(np.int64)
    cells["minx"], cells["maxx"] = _down(rows[:, 1]), _up(rows[:, 2])
    cells["miny"], cells["maxy"] = _down(rows[:, 3]), _up(rows[:, 4])
    levels: list[list[np.ndarray]] = []  # per level, bottom up: the cells of each node
    while True:
        cells = cells[_str_order(cells, cap)]
        nodes = [cells[i : i + cap] for i in range(0, len(cells), cap)] or [cells]
        levels.append(nodes)
        if len(nodes) == 1:
            break
        up = np.empty(len(nodes), dtype=CELL)  # one cell per node: its box, and its index
        up["id"] = np.arange(len(nodes))
        up["minx"] = [n["minx"].min() for n in nodes]
        up["maxx"] = [n["maxx"].max() for n in nodes]
        up["miny"] = [n["miny"].min() for n in nodes]
        up["maxy"] = [n["maxy"].max() for n in nodes]
        cells = up
    depth = len(levels) - 1
    # node numbers: the root is 1, the others 2, 3, … level by level from the top
    numbers: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(levels)
    numbers[depth] = np.array([1], dtype=np.int64)
    nxt = 2
    for level in range(depth - 1, -1, -1):
        numbers[level] = np.arange(nxt, nxt + len(levels[level]), dtype=np.int64)
        nxt += len(levels[level])
    node_rows: list[tuple[int, bytes]] = []
    parent_rows: list[tuple[int, int]] = []
    for level in range(depth, -1, -1):
        for num, cells_ in zip(numbers[level].tolist(), levels[level], strict=True):
            if level > 0:  # an index into the level below becomes that node's number
                cells_ = cells_.copy()
                cells_["id"] = numbers[level - 1][cells_["id"].astype(np.int64)]
                parent_rows.extend((child, num) for child in cells_["id"].tolist())
            head = np.array([depth if num == 1 else 0, len(cells_)], dtype=">u2").tobytes()
            blob = head + cells_.tobytes()
            node_rows.append((num, blob + bytes(node_size - len(blob))))
    leaf_of = np.repeat(numbers[0], [len(n) for n in levels[0]])
    leaf_ids = np.concatenate(levels[0])["id"].astype(np.int64) if levels[0] else leaf_of
    # in row id order: appended to the b-tree (in the tree's order, each insert lands at a
    # random place: 2.5x the time at 1,000,000 entries)
    order = np.argsort(leaf_ids, kind="stable")
    return Packed(node_rows, parent_rows, leaf_ids[order], leaf_of[order])


def write(conn: sqlite3.Connection, table: str, packed: Packed) -> None:
    """Write ``packed`` into the R*Tree ``table``'s shadow tables (emptied first; same
    transaction as the caller)."""
    conn.execute(f"DELETE FROM {table}_node")
    conn.execute(f"DELETE FROM {table}_parent")
    conn.execute(f"DELETE FROM {table}_rowid")
    conn.executemany(f"INSERT INTO {table}_node (nodeno, data) VALUES (?, ?)", packed.nodes)
    conn.executemany(f"INSERT INTO {table}_parent (nodeno, parentnode) VALUES (?, ?)", packed.parents)
    rids, leaves = packed.rids, packed.leaves
    if not len(rids):
        return
    lo, span = int(rids[0]), int(rids[-1] - rids[0]) + 1
    if span <= 2 * len(rids):
        # row ids close together (a load's): one statement over a JSON array of the node of
        # each row id from the first (0: no entry), 0.37 s at 1,000,000 rows against 1.0 s
        # for an executemany, and without the GIL
        slots = np.zeros(span, dtype=np.int64)
        slots[rids - lo] = leaves
        conn.execute(f"INSERT INTO {table}_rowid (rowid, nodeno) SELECT key + ?, value "
                     "FROM json_each(?) WHERE value > 0",
                     (lo, orjson.dumps(slots, option=orjson.OPT_SERIALIZE_NUMPY).decode()))  # fmt: skip
    else:
        conn.executemany(f"INSERT INTO {table}_rowid (rowid, nodeno) VALUES (?, ?)",
                         zip(rids.tolist(), leaves.tolist(), strict=True))  # fmt: skip


def pack(conn: sqlite3.Connection, table: str, rows: np.ndarray, node_size: int) -> None:
    """Write the packed tree of ``rows`` (see :func:`plan`) into the empty R*Tree ``table``'s
    shadow tables (same transaction as the caller)."""
    write(conn, table, plan(rows, node_size))

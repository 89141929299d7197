"""The SQL function ``item_json(content)`` of the SQLite catalog: an item's JSON whether it is
stored as TEXT or as a zstd frame compressed with a dictionary of ``item_dicts``
(:mod:`sathub.catalog.itemzip`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import zstandard


def register(conn: sqlite3.Connection) -> None:
    """``item_json(content)`` on ``conn``: TEXT as it is, a BLOB decompressed with the
    dictionary its frame names (read from ``item_dicts`` once per connection)."""
    cache: dict[int, zstandard.ZstdDecompressor] = {}
    # the last frame and its text: a filter on several properties reads one row's JSON as
    # many times (json_extract(item_json(c.content), …) per property)
    last: list[Any] = [b"", ""]

    def item_json(value: str | bytes | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if value == last[0]:
            return str(last[1])
        dict_id = zstandard.get_frame_parameters(value).dict_id
        dec = cache.get(dict_id)
        if dec is None:
            row = conn.execute("SELECT dict FROM item_dicts WHERE id = ?", (dict_id,)).fetchone()
            if row is None:
                raise ValueError(f"item JSON compressed with dictionary {dict_id}, which is not in item_dicts")
            d = zstandard.ZstdCompressionDict(row[0], dict_type=zstandard.DICT_TYPE_FULLDICT)
            dec = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=d)
        text = dec.decompress(value).decode()
        last[0], last[1] = value, text
        return text

    conn.create_function("item_json", 1, item_json, deterministic=True)

"""Item JSON compressed with a zstd dictionary trained on the first items of a bulk load.

STAC items of one catalog repeat the same keys, extension URLs, asset layouts and href
prefixes; a zstd dictionary trained on a few thousand of them (Zstandard's own trainer, the
``zstandard`` bindings) compresses each ~4 KB item on its own, so that any one item can still
be read alone, to a few hundred bytes (measured: 3,680 B of JSON to ~200 B on the benchmark
items, 3.8 µs to compress and 2.6 µs to decompress an item). A bulk load
(:func:`sathub.catalog.loader.load_file` with worker processes) trains one dictionary on the
first :data:`SAMPLE_BYTES` of its file, stores it in ``item_dicts`` in the load's own
transaction and stores each item's JSON as a zstd frame (a BLOB) that names its dictionary.

Readers go through the SQL function ``item_json(content)``, registered on every connection
(:mod:`sathub.catalog.sqlite.itemjson`):
a TEXT value (written item by item, or by an older version of sathub) is returned as it is,
a BLOB is decompressed with the dictionary its frame names. A catalog written before this
change therefore needs no migration: its rows are TEXT and read unchanged, and later bulk
loads add compressed rows beside them.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import zstandard

DICT_SIZE = 64 * 1024
SAMPLE_BYTES = 4 * 2**20  # the first ~1,000 items of a file of 4 KB items
MIN_SAMPLES = 64  # fewer lines: no dictionary (the items are stored as text)
# level 1: 199 B/item in 3.8 µs where level 3 gave 198 B in 4.5 µs (benchmark items, the
# trained dictionary; levels below 0 save little time and grow the items to 245-350 B)
LEVEL = 1



def train(samples: list[bytes], taken: frozenset[int] = frozenset()) -> tuple[int, bytes] | None:
    """(dictionary id, dictionary) trained on ``samples``, or None when they are too few or
    too alike for zstd's trainer. The id is random in [2**15, 2**31) (zstd leaves lower ids
    to a registry) and not one of ``taken`` (the catalog's), so a frame names its dictionary
    without ambiguity."""
    if len(samples) < MIN_SAMPLES:
        return None
    dict_id = 0
    while dict_id == 0 or dict_id in taken:
        dict_id = 2**15 + secrets.randbelow(2**31 - 2**15)
    try:
        d = zstandard.train_dictionary(DICT_SIZE, list[bytes | bytearray | memoryview](samples),
                                       dict_id=dict_id, level=LEVEL)  # fmt: skip
    except zstandard.ZstdError:
        return None
    return d.dict_id(), d.as_bytes()


def sample_lines(path: Path, size: int = SAMPLE_BYTES) -> list[bytes]:
    """The non-empty lines in the first ``size`` bytes of a newline-delimited file."""
    with path.open("rb") as f:
        head = f.read(size)
    lines = head.split(b"\n")
    if len(head) == size:
        lines.pop()  # cut short
    return [ln.strip() for ln in lines if ln.strip()]


class Packer:
    """Compresses item JSON with one dictionary (one per process: not thread-safe)."""

    def __init__(self, dict_bytes: bytes) -> None:
        d = zstandard.ZstdCompressionDict(dict_bytes, dict_type=zstandard.DICT_TYPE_FULLDICT)
        self._c = zstandard.ZstdCompressor(level=LEVEL, dict_data=d, write_content_size=True,
                                           write_checksum=False, write_dict_id=True)  # fmt: skip

    def pack(self, text: bytes) -> bytes:
        return self._c.compress(text)

"""The extra filter a catalog store ANDs inside a search: plain CQL2-JSON, with optional hints.

Access control hands every search, item read and aggregation the caller's grants as an
``extra_filter``. It is either a CQL2-JSON dict or an :class:`AccessFilter`: the OR of a few
*parts*, each a plain CQL2 expression or one of two caching hints. Every backend may ignore the
hints and evaluate :attr:`AccessFilter.cql2`, the plain CQL2 of the whole filter (standard
operators and property names only); a backend may instead use them to keep row sets:

- :class:`Kept` ``(expr, cheap)``: the rows matching ``expr OR cheap`` stay the same for a while
  (they depend only on the catalog and on :attr:`Kept.cache_key`); a backend may compute them
  once per catalog version and keep them (``cheap``: a term it may evaluate live instead when
  it matches very many rows).
- :class:`Gated` ``(gate, then)``: the rows matching ``gate AND then``; the gate's rows are
  stable (under :attr:`Gated.cache_key`) and usually none, so a backend that keeps them can
  skip ``then`` (which changes with the clock) when there are none.

The cache keys are digests of the cacheable expressions, computed here: equal keys mean equal
expressions, whatever built the filter. The SQLite store keeps such sets as temporary tables
(``catalog/sqlite/materialize.py``); see docs/architecture.md, "Contracts".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Union

import orjson

CQL2 = dict[str, Any]


def _digest(*exprs: CQL2 | None) -> str:
    return hashlib.sha1(orjson.dumps(list(exprs), option=orjson.OPT_SORT_KEYS)).hexdigest()


def any_of(exprs: list[CQL2]) -> CQL2:
    """The OR of expressions (one expression as itself)."""
    return exprs[0] if len(exprs) == 1 else {"op": "or", "args": list(exprs)}


@dataclass(frozen=True)
class Kept:
    """Rows matching ``expr`` OR ``cheap``: a set a backend may compute once per catalog
    version and keep under :attr:`cache_key`."""

    expr: CQL2
    cheap: CQL2 | None = None

    @cached_property
    def cql2(self) -> CQL2:
        return self.expr if self.cheap is None else any_of([self.expr, self.cheap])

    @cached_property
    def cache_key(self) -> str:
        return _digest(self.expr, self.cheap)


@dataclass(frozen=True)
class Gated:
    """Rows matching ``gate`` AND ``then``: a backend may keep the gate's rows under
    :attr:`cache_key` (``then`` is not part of it) and skip ``then`` when there are none."""

    gate: CQL2
    then: CQL2

    @cached_property
    def cql2(self) -> CQL2:
        return {"op": "and", "args": [self.gate, self.then]}

    @cached_property
    def cache_key(self) -> str:
        return _digest(self.gate)


Part = Union[Kept, Gated, CQL2]


@dataclass(frozen=True)
class AccessFilter:
    """The OR of ``parts`` (see the module docstring); :attr:`cql2` is the same filter as plain
    CQL2."""

    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("an AccessFilter needs at least one part")

    @cached_property
    def cql2(self) -> CQL2:
        return any_of([p if isinstance(p, dict) else p.cql2 for p in self.parts])

    @property
    def hinted(self) -> bool:
        """Does any part carry a caching hint?"""
        return any(not isinstance(p, dict) for p in self.parts)

    @classmethod
    def plain(cls, expr: CQL2) -> AccessFilter:
        return cls((expr,))


ExtraFilter = Union[AccessFilter, CQL2, None]


@lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    import cql2

    return cql2.parse_json(text)


def filter_collections(collections: list[dict[str, Any]], expr: CQL2) -> list[dict[str, Any]]:
    """The collection documents that match a CQL2-JSON filter on their top-level fields
    (evaluated by the cql2 library: for backends that hold few collections)."""
    compiled = _compiled(orjson.dumps(expr, option=orjson.OPT_SORT_KEYS).decode())
    return [c for c in collections if compiled.matches(_as_feature(c))]


def _as_feature(doc: dict[str, Any]) -> dict[str, Any]:
    """A collection document as the evaluator reads it: its top-level fields, also under
    ``properties``. A document's own ``properties`` (any JSON value: the catalog does not
    constrain it) never stands in for a top-level field (the access layer hides by ``id``)."""
    own = doc.get("properties")
    top = {k: v for k, v in doc.items() if k != "properties"}
    return {**top, "properties": {**(own if isinstance(own, dict) else {}), **top}}


def plain_cql2(extra: ExtraFilter) -> CQL2 | None:
    """The extra filter as plain CQL2 (None: no filter)."""
    return extra.cql2 if isinstance(extra, AccessFilter) else extra


__all__ = ["CQL2", "AccessFilter", "ExtraFilter", "Gated", "Kept", "Part", "any_of",
           "filter_collections", "plain_cql2"]

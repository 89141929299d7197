"""Lists of the console: every table pages, sorts and filters the same way, from the query
string, so a list is a plain link (bookmarkable, works without scripts, keyboard-friendly).

Parameters (a prefix keeps two lists of one page apart): ``q`` (text anywhere in a row),
``f_<column>`` (one value of a filter column), ``sort``, ``dir`` (``asc``/``desc``), ``page``
and ``per`` (10, 25, 50, 100). A value that cannot be used is a 400 naming the parameter, as
the API answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from sathub.errors import InvalidInput

PER_PAGE = (10, 25, 50, 100)
MAX_Q = 200


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # message key
    sortable: bool = True
    filter: bool = False  # a select of the values present
    numeric: bool = False
    labels: str | None = None  # message-key prefix naming a value (a status, a role)
    value: Callable[[dict[str, Any]], Any] | None = None  # what sorts and filters (default: row[key])

    def of(self, row: dict[str, Any]) -> Any:
        return self.value(row) if self.value is not None else row.get(self.key)


@dataclass
class Listing:
    """One page of a list, and what is needed to draw its controls."""

    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    total: int  # rows after filtering
    count: int  # rows before filtering
    page: int
    pages: int
    per: int
    sort: str
    desc: bool
    q: str
    filters: dict[str, str]
    options: dict[str, list[str]]  # filter column → values present
    prefix: str
    keep: dict[str, str]  # query parameters of the page that are not this list's
    url: Callable[..., str] = field(repr=False)

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per)

    def sort_url(self, key: str) -> str:
        desc = not self.desc if key == self.sort else False
        return self.url(sort=key, dir="desc" if desc else "asc", page=1)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.desc else "ascending"


def _key(value: Any, numeric: bool) -> tuple[int, Any]:
    if value is None or value == "":
        return (1, 0)  # missing values last, whatever the direction
    if numeric:
        try:
            return (0, float(value))
        except (TypeError, ValueError):
            return (0, float("inf"))
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return (0, str(value).casefold())


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def listing(request: Request, rows: Sequence[dict[str, Any]], columns: Sequence[Column], *,
            sort: str, desc: bool = False, per: int = 25, prefix: str = "") -> Listing:  # fmt: skip
    """Filter, sort and cut ``rows`` as the query string asks."""
    qp = request.query_params

    def param(name: str) -> str | None:
        return qp.get(prefix + name)

    sortable = {c.key: c for c in columns if c.sortable}
    sort = param("sort") or sort
    if sort not in sortable:
        raise InvalidInput(f"sort must be one of {', '.join(sortable)}", field=prefix + "sort")
    direction = param("dir")
    if direction not in (None, "asc", "desc"):
        raise InvalidInput("dir must be asc or desc", field=prefix + "dir")
    desc = desc if direction is None else direction == "desc"
    per_s = param("per")
    if per_s is not None:
        if not per_s.isdigit() or int(per_s) not in PER_PAGE:
            raise InvalidInput(f"per must be one of {', '.join(map(str, PER_PAGE))}", field=prefix + "per")
        per = int(per_s)
    q = (param("q") or "").strip()
    if len(q) > MAX_Q:
        raise InvalidInput(f"q: at most {MAX_Q} characters", field=prefix + "q")
    options = {c.key: sorted({_text(c.of(r)) for r in rows if _text(c.of(r))}, key=str.casefold)
               for c in columns if c.filter}  # fmt: skip
    filters = {}
    for c in columns:
        if c.filter and param(f"f_{c.key}"):
            filters[c.key] = str(param(f"f_{c.key}"))
    out = [r for r in rows if all(_text(c.of(r)) == filters[c.key] for c in columns if c.key in filters)]
    if q:
        needle = q.casefold()
        out = [r for r in out if any(needle in _text(c.of(r)).casefold() for c in columns)]
    col = sortable[sort]
    present = [r for r in out if _key(col.of(r), col.numeric)[0] == 0]
    absent = [r for r in out if _key(col.of(r), col.numeric)[0] == 1]
    present.sort(key=lambda r: _key(col.of(r), col.numeric), reverse=desc)
    out = present + absent
    total = len(out)
    pages = max(1, -(-total // per))
    page_s = param("page") or "1"
    if not page_s.isdigit() or not 1 <= int(page_s) <= 1_000_000:
        raise InvalidInput("page must be a whole number from 1", field=prefix + "page")
    page = min(int(page_s), pages)
    state = {"q": q, "sort": sort, "dir": "desc" if desc else "asc", "per": per, "page": page,
             **{f"f_{k}": v for k, v in filters.items()}}  # fmt: skip

    own = {prefix + k for k in ("q", "sort", "dir", "per", "page")}
    keep = {k: v for k, v in request.query_params.items()
            if k not in own and not k.startswith(prefix + "f_")}  # other lists, page state

    def url(**changes: Any) -> str:
        params = dict(keep)
        merged = {**state, **changes}
        params.update({prefix + k: str(v) for k, v in merged.items() if v not in ("", None)})
        return f"{request.url.path}?{urlencode(params)}"

    return Listing(columns, out[(page - 1) * per: page * per], total, len(rows), page, pages, per,
                   sort, desc, q, filters, options, prefix, keep, url)  # fmt: skip


__all__ = ["Column", "Listing", "PER_PAGE", "listing"]

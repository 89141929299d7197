"""CQL2 filters as they arrive: bounded, normalised, then parsed and validated by ``cql2``.

No parser sees a filter before its size, nesting depth and node count are checked against
:class:`FilterLimits` (``SATHUB_CQL2_MAX_CHARS``, ``SATHUB_CQL2_MAX_DEPTH``,
``SATHUB_CQL2_MAX_NODES``): ``cql2``'s parser overflows the C stack on ~2,000 nested
parentheses, and its schema validation costs ~12 MB and ~80 ms per level of nesting. Each check
is one pass over the text (string literals skipped) or one iterative walk of the JSON, and a
violation is a 400 that names the limit and its setting.

- **chars**: the length of the text (cql2-text or cql2-json), or of a JSON body's filter as
  serialised;
- **depth**: JSON objects and arrays nested in each other; in cql2-text, parentheses and
  brackets (2 for a function call's), plus 2 for each ``NOT`` and arithmetic operator in a
  chain (reset by ``AND``, ``OR``, a comparison or a comma), so that it tracks the depth of
  the expression the text parses to;
- **nodes**: JSON objects, strings (not keys) and numbers; in cql2-text, words, strings,
  numbers and comparison operators. The numbers of a geometry's coordinates (a WKT literal, a
  GeoJSON ``coordinates`` or ``bbox`` array) are not counted: they cost little to parse and
  validate, and the size limit bounds them; arithmetic operators are bounded by the depth.

Normalisation accepts what clients send: an ``and``/``or`` with one argument (STAC Browser)
is that argument; a ``between`` with its bounds in one array (the drafts' form, which the STAC
API validator sends) is the standard three-argument one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import cql2
import orjson

from sathub.config import Settings
from sathub.errors import InvalidFilter

# cql2's JSON parser stops at 128 levels and orjson's writer at 255: the depth setting stays below
MAX_DEPTH_CEILING = 100


@dataclass(frozen=True)
class FilterLimits:
    max_chars: int
    max_depth: int
    max_nodes: int

    @classmethod
    def of(cls, settings: Settings) -> FilterLimits:
        return cls(settings.cql2_max_chars, min(settings.cql2_max_depth, MAX_DEPTH_CEILING),
                   settings.cql2_max_nodes)  # fmt: skip


DEFAULT_LIMITS = FilterLimits.of(Settings.model_construct())


def _chars(n: int, limits: FilterLimits) -> None:
    if n > limits.max_chars:
        raise InvalidFilter(f"the filter is longer than {limits.max_chars} characters, the limit "
                            "(SATHUB_CQL2_MAX_CHARS)", field="filter")  # fmt: skip


def _depth(n: int, limits: FilterLimits) -> None:
    if n > limits.max_depth:
        raise InvalidFilter(f"the filter is nested deeper than {limits.max_depth} levels, the "
                            "limit (SATHUB_CQL2_MAX_DEPTH)", field="filter")  # fmt: skip


def _nodes(n: int, limits: FilterLimits) -> None:
    if n > limits.max_nodes:
        raise InvalidFilter(f"the filter has more than {limits.max_nodes} nodes, the limit "
                            "(SATHUB_CQL2_MAX_NODES)", field="filter")  # fmt: skip


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'[^']*(?:''[^']*)*'?)
    |(?P<qid>"[^"]*(?:""[^"]*)*"?)
    |(?P<open>[(\[])
    |(?P<close>[)\]])
    |(?P<comma>,)
    |(?P<cmp>[<>=!]+)
    |(?P<arith>[+\-*/%^])
    |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[^\s'"()\[\],<>=!+\-*/%^]+)""",
    re.X,
)
_CHAIN_WORDS = frozenset({"NOT", "DIV"})
_BREAK_WORDS = frozenset({"AND", "OR"})
_KEYWORDS = _BREAK_WORDS | {"NOT"}  # a "(" after these groups; after another word it calls
_OPERANDS = frozenset({"num", "word", "str", "qid", "close"})  # a "-" after these subtracts
# Coordinates cost little to parse and validate: numbers inside a geometry literal are not nodes
_WKT = frozenset({"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
                  "GEOMETRYCOLLECTION", "BBOX", "Z"})  # fmt: skip
_GEO_KEYS = frozenset({"coordinates", "bbox"})


def check_text(text: str, limits: FilterLimits) -> None:
    """Bound a cql2-text filter in one pass of a tokenizer (see the module docstring)."""
    _chars(len(text), limits)
    opened = 0  # weight of the open parentheses and brackets
    weights: list[int] = []
    chains = [0]  # per open group: 2 × the NOT and arithmetic operators chained so far
    nodes = 0
    geo: int | None = None  # the level of the geometry literal being read
    prev, prev_word = "", ""
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or ""
        token = m.group()
        if kind == "ws":
            continue
        word = token.upper() if kind == "word" else ""
        if kind == "open":
            w = 2 if prev in ("word", "qid") and prev_word not in _KEYWORDS else 1
            if geo is None and prev_word in _WKT:
                geo = len(weights)
            weights.append(w)
            opened += w
            chains.append(0)
        elif kind == "close":
            if weights:
                opened -= weights.pop()
                chains.pop()
            if geo is not None and len(weights) <= geo:
                geo = None
        elif kind == "comma" or kind == "cmp" or word in _BREAK_WORDS:
            chains[-1] = 0
        elif word in _CHAIN_WORDS:
            chains[-1] += 2
        elif kind == "arith":
            sign = token in "+-" and prev not in _OPERANDS and text[m.end():m.end() + 1].isdigit()
            if not sign:  # a binary operator (a sign belongs to its number)
                chains[-1] += 2
        if kind in ("word", "str", "qid", "cmp") or (kind == "num" and geo is None):
            nodes += 1
            _nodes(nodes, limits)
        _depth(opened + sum(chains), limits)
        prev, prev_word = kind, word


def check_json_text(text: str, limits: FilterLimits) -> None:
    """Bound a cql2-json filter given as text in one pass, before any JSON parser sees it."""
    _chars(len(text), limits)
    depth = 0
    nodes = 0
    geo: int | None = None  # the depth of the coordinates array being read
    geo_key = False  # the last token was the key "coordinates" or "bbox"
    for m in _JSON_TOKEN.finditer(text):
        token = m.group()
        c = token[0]
        if c in "{[":
            depth += 1
            _depth(depth, limits)
            if c == "[" and geo_key and geo is None:
                geo = depth
        elif c == "}" or c == "]":
            depth -= 1
            if geo is not None and depth < geo:
                geo = None
        key = c == '"' and _KEY_FOLLOWS.match(text, m.end()) is not None
        geo_key = key and token[1:-1] in _GEO_KEYS
        if c == "{" or (c == '"' and not key) or (c in "-0123456789" and geo is None):
            nodes += 1
            _nodes(nodes, limits)


_KEY_FOLLOWS = re.compile(r"\s*:")
# a string (escapes skipped), an opening or closing bracket, or any other run (a number, a word)
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]]|[^\s,:{}\[\]"]+')


def check_value(value: Any, limits: FilterLimits) -> None:
    """Bound a filter that arrived as JSON (already decoded), iteratively (no recursion)."""
    stack: list[tuple[Any, int, bool]] = [(value, 1, False)]  # (value, depth, in coordinates)
    nodes = 0
    chars = 0
    while stack:
        v, d, geo = stack.pop()
        if isinstance(v, dict):
            _depth(d, limits)
            nodes += 1
            chars += 2 + len(v)
            for k, child in v.items():
                chars += len(str(k)) + 3
                stack.append((child, d + 1, geo or (k in _GEO_KEYS and isinstance(child, list))))
        elif isinstance(v, (list, tuple)):
            _depth(d, limits)
            chars += 2 + len(v)
            stack.extend((child, d + 1, geo) for child in v)
        elif isinstance(v, str):
            nodes += 1
            chars += len(v) + 2
        else:
            nodes += isinstance(v, (int, float)) and not isinstance(v, bool) and not geo
            chars += len(repr(v))
        _nodes(nodes, limits)
        _chars(chars, limits)


def normalise(expr: Any) -> Any:
    """What clients send, as CQL2 wants it: ``and``/``or`` with one argument is that argument;
    ``between`` with its bounds as one array (CQL2's drafts) takes them as two arguments."""
    if isinstance(expr, list):
        return [normalise(v) for v in expr]
    if not isinstance(expr, dict):
        return expr
    out = {k: normalise(v) for k, v in expr.items()}
    op = str(out.get("op", "")).lower()
    args = out.get("args")
    if op in ("and", "or") and isinstance(args, list) and len(args) == 1:
        return args[0]
    if op == "between" and isinstance(args, list) and len(args) == 2 and isinstance(args[1], list) \
            and len(args[1]) == 2:  # fmt: skip
        return {**out, "args": [args[0], *args[1]]}  # the draft's form, which the STAC API validator sends
    return out


def parse_filter(
    value: str | dict[str, Any], lang: str | None = None, limits: FilterLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Bound, normalise, parse and validate a CQL2 filter (text or JSON) into CQL2-JSON.

    Parsing and validating with cql2 costs from ~70 ms; clients repeat the same filter (paging,
    map tiles, dashboards), so results are kept by their text (LRU, 512 filters). Each call
    returns a fresh copy."""
    if isinstance(value, dict):
        check_value(value, limits)
        text, kind = orjson.dumps(normalise(value)).decode(), "cql2-json"
    elif not isinstance(value, str):
        raise InvalidFilter("filter must be CQL2 text or a CQL2-JSON object", field="filter")
    elif lang == "cql2-json" or (lang is None and value.lstrip().startswith("{")):
        check_json_text(value, limits)
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidFilter(f"invalid CQL2-JSON: {exc}", field="filter") from exc
        text, kind = orjson.dumps(normalise(decoded)).decode(), "cql2-json"
    else:
        check_text(value, limits)
        text, kind = value, "cql2-text"
    return orjson.loads(_parse_cached(text, kind))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, kind: str) -> bytes:
    try:
        expr = cql2.parse_json(text) if kind == "cql2-json" else cql2.parse_text(text)
        expr.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        reason = str(exc)
        if len(reason) > 300:
            reason = reason[:300] + "…"
        raise InvalidFilter(f"invalid CQL2 filter: {reason}", field="filter") from exc
    out = expr.to_json()
    if not isinstance(out, dict):
        raise InvalidFilter("a CQL2 filter must be a boolean expression", field="filter")
    return orjson.dumps(out)

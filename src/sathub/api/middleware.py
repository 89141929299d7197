"""ASGI middleware: request body size and JSON nesting limits."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import orjson


class BodyLimitMiddleware:
    """Reject request bodies over ``max_bytes`` with 413 before anything reads them."""

    def __init__(self, app: Any, max_bytes: int, worker_threads: int = 8) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.worker_threads = worker_threads
        self._limited = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self._limited:
            # Sync endpoints run in anyio's thread pool (40 threads by default), and each
            # thread holds its own SQLite connection and page cache: bound them.
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = self.worker_threads
            self._limited = True
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send)
                return
        seen = 0
        too_big = False

        async def limited_receive() -> Any:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Any) -> None:
        await send_json(send, 413, {"code": "PayloadTooLarge", "field": "body",
                                    "description": f"request body is larger than {self.max_bytes} bytes"})  # fmt: skip


async def send_json(send: Any, status: int, body: dict[str, Any],
                    headers: dict[str, str] | None = None) -> None:  # fmt: skip
    """A JSON response from an ASGI middleware (before any route runs)."""
    raw = orjson.dumps(body)
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class _TooLarge(Exception):
    pass


FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-forwarded-host",
                                b"x-forwarded-proto", b"x-forwarded-port", b"x-forwarded-prefix"})  # fmt: skip


class TrustedProxyMiddleware:
    """Drop ``Forwarded`` and ``X-Forwarded-*`` headers unless the connection comes from a
    configured trusted proxy (``SATHUB_TRUSTED_PROXIES``; default: none), so that no client can
    rewrite the links the API returns."""

    def __init__(self, app: Any, trusted: str = "") -> None:
        self.app = app
        names = {t.strip() for t in trusted.split(",") if t.strip()}
        self.any = "*" in names
        self.trusted = names - {"*"}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self.any:
            client = (scope.get("client") or ("", 0))[0]
            if client not in self.trusted:
                headers = scope.get("headers", [])
                if any(name in FORWARDING_HEADERS for name, _ in headers):
                    scope = dict(scope)
                    scope["headers"] = [(n, v) for n, v in headers if n not in FORWARDING_HEADERS]
        await self.app(scope, receive, send)


_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
QUOTE, BACKSLASH = ord('"'), ord("\\")


def json_depth(body: bytes, stop_above: int | None = None, chunk: int = 1 << 20) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing it: numpy
    finds the unescaped quotes, ignores brackets inside strings and takes the running sum of
    the others, a chunk at a time (linear time, a few MB of memory). Exact for valid JSON;
    invalid JSON gets a number its parser rejects anyway. Stops early once the depth is
    above ``stop_above``."""
    deepest = level = 0
    in_string = odd_run = 0  # carried across chunks: inside a string; a trailing odd \\ run
    for start in range(0, len(body), chunk):
        a = np.frombuffer(body, np.uint8, min(chunk, len(body) - start), start)
        bs = a == BACKSLASH
        runs = np.cumsum(bs, dtype=np.int32)  # backslashes so far; minus the count at the last
        runs -= np.maximum.accumulate(np.where(bs, 0, runs))  # non-backslash = the run length
        if odd_run:  # the run continuing from the previous chunk
            lead = int(np.argmin(bs)) if not bs.all() else len(a)
            runs[:lead] += 1
        escaped = np.empty(len(a), bool)
        escaped[0] = bool(odd_run)
        escaped[1:] = (runs[:-1] & 1).astype(bool)
        quotes = np.cumsum((a == QUOTE) & ~escaped, dtype=np.int32) + in_string
        steps = _STEP[a]
        steps[(quotes & 1).astype(bool)] = 0  # brackets inside strings
        running = np.cumsum(steps, dtype=np.int32) + level
        deepest = max(deepest, int(running.max()))
        level, in_string, odd_run = int(running[-1]), int(quotes[-1] & 1), int(runs[-1] & 1)
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def _is_json(scope: Any) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media in (b"", b"text/plain") or b"json" in media
    return True  # no content type: FastAPI and the transaction routes parse it as JSON


class JsonBodyMiddleware:
    """Check a JSON request body before any parser sees it: nested deeper than ``max_depth``
    is a 400 naming the limit (parsers recurse per level, and a body of 100,000 ``[``
    exhausts the C stack or Python's recursion limit); a string with a lone surrogate escape
    (``"\\ud800"``) is a 400 (Python's json accepts it, and the str it makes fails later where
    it is encoded). Bodies are already size-bounded (413) by :class:`BodyLimitMiddleware`,
    which must wrap this one."""

    def __init__(self, app: Any, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH")
                or not _is_json(scope)):  # fmt: skip
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and (b"[" in body or b"{" in body):
            depth = json_depth(body, stop_above=self.max_depth)
            if depth > self.max_depth:
                await send_json(send, 400, {
                    "code": "InvalidInput", "field": "body",
                    "description": f"the JSON body is nested more than {self.max_depth} levels deep "
                                   "(SATHUB_MAX_JSON_DEPTH)",
                })  # fmt: skip
                return
            if _SURROGATE_ESCAPE.search(body):
                problem = _lone_surrogate(body)
                if problem:
                    await send_json(send, 400, {"code": "InvalidInput", "field": "body",
                                                "description": problem})  # fmt: skip
                    return
        message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([message], receive), send)


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")


def _lone_surrogate(body: bytes) -> str | None:
    """Why a JSON body with surrogate escapes cannot be used: a lone ``\\ud800`` parses in
    Python's json into a str that cannot be encoded (SQLite, headers, logs fail later with a
    500). orjson, stricter, says where; valid pairs (an escaped emoji) pass."""
    try:
        orjson.loads(body)
        return None
    except orjson.JSONDecodeError as exc:
        if "surrogate" in str(exc):
            return f"the JSON body is not valid Unicode: {exc}"
    try:  # something else orjson refuses (NaN, huge numbers): parse as the routes do
        stack = [json.loads(body)]
    except (ValueError, RecursionError):  # not JSON at all: the route says so
        return None
    while stack:  # then look at every string (the depth is bounded already)
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and not v.isascii():
            try:
                v.encode()
            except UnicodeEncodeError:
                return "the JSON body is not valid Unicode: a lone surrogate in a string"
    return None


def _replay(messages: list[Any], receive: Any) -> Any:
    """``messages`` first, then the client's own ``receive`` (which waits for a disconnect)."""
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay

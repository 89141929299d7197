"""ASGI middleware: request body size limit."""

from __future__ import annotations

from typing import Any

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

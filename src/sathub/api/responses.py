"""JSON responses rendered with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


def json_response(
    content: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )

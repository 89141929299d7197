"""Message catalogs of the console: every string a person reads comes from here.

One JSON file per language in ``messages/`` (``en.json`` is complete; another language may
leave keys out, English fills them in). A message is looked up by key and formatted with named
parameters (``{name}``). :func:`negotiate` picks the language from the browser's
``Accept-Language`` among the catalogs there are, else the configured default.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

MESSAGES = Path(__file__).resolve().parent / "messages"
FALLBACK = "en"


@cache
def _load(locale: str) -> dict[str, str]:
    path = MESSAGES / f"{locale}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: a catalog is a JSON object of strings")
    return data


def locales() -> list[str]:
    return sorted(p.stem for p in MESSAGES.glob("*.json"))


class Catalog:
    """The messages of one language, English where it has none."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in locales() else FALLBACK
        self.messages = {**_load(FALLBACK), **_load(self.locale)}

    def __call__(self, key: str, /, **params: Any) -> str:
        try:
            text = self.messages[key]
        except KeyError:
            raise KeyError(f"no message {key!r} in the console's catalog") from None
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self.messages

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Every message under ``prefix`` (the ones the console's scripts use: ``js.``)."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefix)}


def negotiate(accept_language: str | None, default: str) -> str:
    """The best catalog for an ``Accept-Language`` header (q-values honoured)."""
    have = set(locales())
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        ranked.append((-weight, n, tag.strip()))
    for _, _, tag in sorted(ranked):
        for cand in (tag, tag.split("-")[0].lower()):
            if cand in have:
                return cand
    return default if default in have else FALLBACK


__all__ = ["Catalog", "locales", "negotiate"]

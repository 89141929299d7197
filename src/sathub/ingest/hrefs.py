"""Asset hrefs of ingested items are paths relative to ``DATA/assets/`` (portable when the
data directory moves). These helpers turn them into files or URLs, for the API and tools."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def is_local(href: str) -> bool:
    """True for an href ingest wrote (relative), False for URLs and absolute paths."""
    return "://" not in href and not href.startswith("/")


def asset_path(assets_root: Path, href: str) -> Path | None:
    """The file of a relative href, or None if it is not local or escapes ``assets_root``."""
    if not is_local(href):
        return None
    rel = PurePosixPath(href)
    if ".." in rel.parts:
        return None
    return assets_root / Path(*rel.parts)


def public_href(base_url: str, href: str, prefix: str = "assets") -> str:
    """URL of an asset served under ``{base_url}/{prefix}/`` (unchanged if not local)."""
    if not is_local(href):
        return href
    return f"{base_url.rstrip('/')}/{prefix}/{href}"

"""Asset hrefs of ingested items are keys of the object store (paths relative to
``DATA/assets/`` on local disk: portable when the data directory moves). These helpers turn
them into URLs for the API; which keys are safe, and where their files are, is the object
store's business (:mod:`sathub.storage.keys`)."""

from __future__ import annotations


def is_local(href: str) -> bool:
    """True for an href ingest wrote (relative), False for URLs and absolute paths."""
    return "://" not in href and not href.startswith("/")


def public_href(base_url: str, href: str, prefix: str = "assets") -> str:
    """URL of an asset served under ``{base_url}/{prefix}/`` (unchanged if not local)."""
    if not is_local(href):
        return href
    return f"{base_url.rstrip('/')}/{prefix}/{href}"

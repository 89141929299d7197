"""Object storage for assets: one :class:`ObjectStore` interface, a local-filesystem backend,
and the HTTP helpers (Range, ETag, conditional requests) every backend shares."""

from sathub.storage.base import ObjectInfo, ObjectStore
from sathub.storage.local import LocalStore

__all__ = ["LocalStore", "ObjectInfo", "ObjectStore"]

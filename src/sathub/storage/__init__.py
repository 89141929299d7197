"""Object storage for assets: the :class:`ObjectStore` contract and its one path-safety rule
(:mod:`sathub.storage.keys`), the local-disk store, and the HTTP helpers (Range, ETag,
conditional requests) every backend shares. Only this package opens the files behind keys."""

from sathub.storage.base import ObjectInfo, ObjectStore, gdal_href
from sathub.storage.keys import is_key, key_parts, normalize_key
from sathub.storage.local import LocalStore

__all__ = ["LocalStore", "ObjectInfo", "ObjectStore", "gdal_href", "is_key", "key_parts",
           "normalize_key"]

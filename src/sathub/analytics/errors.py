"""Errors of the analytics package (children of :class:`sathub.errors.SathubError`).

::

    SathubError
    └── AnalyticsError           a job cannot produce a result (reason named)      → 422
        ├── NoData               the AOI touches no valid pixel of any scene        → 422
        ├── MissingBand          a scene lacks a band an index needs                → 422
        └── MissingMask          --mask asset, and a scene has no mask asset        → 422
"""

from __future__ import annotations

from sathub.errors import SathubError


class AnalyticsError(SathubError):
    """An analytics job cannot produce a result; the message says why."""

    status_code = 422


class NoData(AnalyticsError):
    """The area of interest touches no data of the selected scenes."""


class MissingBand(AnalyticsError):
    """A scene has no band with the common name an index needs."""


class MissingMask(AnalyticsError):
    """A mask asset was asked for and the scene has none."""

"""Imagery ingest: raw scenes → COG assets + STAC items, atomically.

Public entry points::

    from sathub.ingest import ingest_paths, verify_archive

Flow (see ``pipeline.py``): a reader turns input files into a :class:`Scene`; ``cog.py``
writes lossless COGs into the staging area; ``metadata.py`` and ``footprint.py`` build the
STAC item; the parent process commits the item and moves the files into ``assets/`` inside
one catalog transaction.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IngestReport", "SceneOutcome", "VerifyReport", "ingest_paths", "verify_archive"]


def __getattr__(name: str) -> Any:  # lazy: importing sathub.ingest stays cheap
    if name in ("IngestReport", "SceneOutcome", "ingest_paths"):
        from sathub.ingest import pipeline

        return getattr(pipeline, name)
    if name in ("VerifyReport", "verify_archive"):
        from sathub.ingest import verify

        return getattr(verify, name)
    raise AttributeError(name)

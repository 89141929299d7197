"""The application layer: :class:`Installation` builds every part of one installation from its
settings; the API, every CLI command, the demo and the benchmarks get their parts from it."""

from sathub.app.installation import Installation, NotADataDirectory

__all__ = ["Installation", "NotADataDirectory"]

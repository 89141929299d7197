"""Routers of the domain packages, mounted by ``sathub.api.app``."""

"""The operator console (``/console``): server-rendered pages over the same routes and
functions the API and the CLI use; sign-in with an API key exchanged for a session.

Pages are Jinja2 templates whose every string comes from a message catalog (:mod:`.i18n`);
forms post JSON to the API's own routes (the console has no second implementation of an admin
action) with the session's CSRF token; lists page, sort and filter from the query string
(:mod:`.listing`). Every route declares its permission at the gate, as every API route does.
"""

from __future__ import annotations

from fastapi import APIRouter

from sathub.api.console import permissions  # noqa: F401 - registers console:* before routes declare them
from sathub.api.console import (activations, analytics, archive, auth, budget, dashboard, orbits,
                                partners)  # fmt: skip

router = APIRouter()
for _module in (auth, dashboard, archive, partners, activations, orbits, analytics, budget):
    router.include_router(_module.router)

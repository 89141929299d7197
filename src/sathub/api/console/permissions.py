"""The console's own permissions, registered with the gate's table
(:mod:`sathub.access.permissions`). Pages whose data an API permission already names declare
that one (``admin``, ``orders:read``, ``analytics:run``, ``budget:read``…); these cover the rest.
"""

from __future__ import annotations

import sathub.budget.permissions  # noqa: F401 - the budget pages declare budget:read
from sathub.access.permissions import KEY_HOLDERS, STAFF, register

USE = register("console:use", KEY_HOLDERS, "use the console")
STAFF_PAGES = register("console:staff", STAFF, "open the archive and orbit pages of the console")
ORG = register("console:org", {"admin", "partner"}, "open an organisation's pages")

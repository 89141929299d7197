"""Access control: organisations, agreements, API keys, the policy, quotas, audit, activations.

A request becomes an :class:`~sathub.access.models.Actor`; :func:`~sathub.access.policy.grants_filter`
turns the actor's grants into a CQL2-JSON filter that the catalog store ANDs inside the query,
and :func:`~sathub.access.policy.decide` answers (actor, action, resource) → allow/deny with a
reason. Everything lives in ``DATA/access.db``; the audit log is a keyed hash chain in the same
file (see :mod:`sathub.access.audit`). This package never imports :mod:`sathub.api`.
"""

from sathub.access.models import Activation, Actor, Agreement, ApiKey, Decision, Organisation
from sathub.access.policy import decide, grants_filter, item_visible
from sathub.access.store import AccessStore

__all__ = [
    "AccessStore", "Activation", "Actor", "Agreement", "ApiKey", "Decision", "Organisation",
    "decide", "grants_filter", "item_visible",
]  # fmt: skip

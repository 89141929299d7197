"""The budget's permissions, registered with the permission gate's table
(:mod:`sathub.access.permissions`): every ``/budget`` route declares one of them.

``admin`` holds all three; ``budget_viewer`` reads; ``finance_officer`` reads and writes lines
and transactions; ``budget_approver`` reads and approves (versions, commitments above the
threshold, closing a year). Every other role is refused at the gate (401 without a key, 403
with one): partners, operators and analysts see nothing of the budget.
"""

from __future__ import annotations

from sathub.access.permissions import register

READ = register("budget:read", {"admin", "finance_officer", "budget_approver", "budget_viewer"},
                "read the budget")  # fmt: skip
WRITE = register("budget:write", {"admin", "finance_officer"}, "change the budget")
APPROVE = register("budget:approve", {"admin", "budget_approver"},
                   "approve budgets and commitments")  # fmt: skip

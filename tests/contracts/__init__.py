"""Contract suites: tests every implementation of a contract passes (see
``tests/contracts/conftest.py`` for how they are collected, and docs/architecture.md,
"Contracts")."""

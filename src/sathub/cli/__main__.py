"""``python -m sathub.cli``: the ``sathub`` command."""

from sathub.cli import main

main()

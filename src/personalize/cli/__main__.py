"""``python -m personalize.cli``."""

from personalize.cli import main

main()

"""`python -m ganctl`."""

from ganctl.cli import main

main()

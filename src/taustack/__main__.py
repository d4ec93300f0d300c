"""`python -m taustack` runs the CLI."""

from taustack.cli import main

main()

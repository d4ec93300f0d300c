"""`python -m taustack` runs the CLI."""

from taustack.cli.main import main

main()

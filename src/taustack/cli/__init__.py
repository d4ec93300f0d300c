"""The `taustack` command: one module per command group, each imported only when its command runs."""

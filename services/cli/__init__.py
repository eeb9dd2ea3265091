"""The `quotaboard` command: one module per command group, wired in services/bootstrap.py (the composition root)."""

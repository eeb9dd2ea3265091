"""The performance wall (业绩墙): a read-only, live web page of the read store's documents,
for a screen on the office wall or a regional manager's phone. Its own role and port
(services/runtime/roles.py, docs/decisions.md)."""

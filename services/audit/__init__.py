"""The auditors' and ops' tools: close, replay, apply, rebuild, verify, the Excel report,
one module each (what they share: common.py)."""

"""Intake: the HTTP gateway (signed webhooks, the CRM adapters) and publishing onto JetStream."""

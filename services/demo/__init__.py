"""The demo: a simulated company and CRM posting signed webhooks to a running service."""

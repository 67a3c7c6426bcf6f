"""Messaging: templates, the transactional outbox, delivery policy and transports (email, SMS, webhooks)."""

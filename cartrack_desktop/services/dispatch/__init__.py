"""Dispatch: incidents and unit status (Redis compare-and-set), the durable outbox, events, records."""

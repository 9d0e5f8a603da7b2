"""Messages to people: one-time codes, status changes and exposure alerts, via an outbox."""

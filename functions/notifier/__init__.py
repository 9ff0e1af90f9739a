"""CloudWatch alarm notifications: stored as alerts, forwarded to a webhook."""

"""Scheduled reports: the report Lambda (daily, weekly, monthly)."""

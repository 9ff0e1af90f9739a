"""The Lambda authorizer of the HTTP API."""

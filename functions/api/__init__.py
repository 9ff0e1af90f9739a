"""The HTTP API: one Powertools resolver, routes split by resource in `routes/`."""

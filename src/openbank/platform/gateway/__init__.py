"""The gateway in front of every partner call: rate limits per app and product shared by all
API processes, Idempotency-Key on partner POSTs kept 24 h per app, and the API audit log."""

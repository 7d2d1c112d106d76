"""Remote e-account opening inside a partner app (KYC-lite with a one-time code)."""

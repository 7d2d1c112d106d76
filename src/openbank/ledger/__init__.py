"""Double-entry ledger: the only code that changes a balance."""

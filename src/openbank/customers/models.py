"""Customer tables (filled by the customers work)."""

"""webhooks (see the package docstring)."""

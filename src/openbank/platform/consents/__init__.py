"""consents (see the package docstring)."""

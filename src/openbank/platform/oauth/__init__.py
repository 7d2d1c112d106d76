"""oauth (see the package docstring)."""

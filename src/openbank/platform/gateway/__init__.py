"""gateway (see the package docstring)."""

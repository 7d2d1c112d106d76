"""signed (see the package docstring)."""

"""Remote e-account opening tests."""

"""Signed gateway tests."""

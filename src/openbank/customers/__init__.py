"""Customers (persons, enterprises), KYC and PBoC class I/II/III e-accounts."""

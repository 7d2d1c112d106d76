"""openbank: the open-banking platform a bank runs to embed its services in partner platforms."""

__version__ = "0.1.0"

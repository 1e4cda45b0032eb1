"""Domain area."""

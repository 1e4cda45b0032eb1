"""Secrets: credential encryption, API tokens and password hashing."""

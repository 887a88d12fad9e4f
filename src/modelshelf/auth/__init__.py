"""Principals, scoped tokens and what each scope allows."""

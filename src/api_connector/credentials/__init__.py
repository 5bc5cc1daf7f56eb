"""Credentials: references resolved to secrets, kept encrypted at rest."""

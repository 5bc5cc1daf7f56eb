"""Routing and resilience: dispatch, strategies, classification, retries. No vendor names here."""

"""Governance: rate limits, response cache, coalescing, usage cost and budgets; all wrap the call."""

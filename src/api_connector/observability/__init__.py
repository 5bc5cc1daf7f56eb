"""Metrics, logs with redaction, health, alerts and audit."""

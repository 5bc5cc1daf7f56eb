"""The one place that owns HTTP clients and translates their exceptions."""

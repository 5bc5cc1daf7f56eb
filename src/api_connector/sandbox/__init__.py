"""The built-in sandbox provider: a local, deterministic upstream with fault controls."""

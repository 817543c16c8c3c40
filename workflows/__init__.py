"""Temporal workflows. Workflow code is deterministic: no clocks, I/O or randomness here."""

"""Plumbing every process shares: settings, logging, the Temporal connection, HTTP clients."""

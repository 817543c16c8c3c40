"""Starter."""

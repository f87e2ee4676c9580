"""Temporal workflows and their declarative task plans (deterministic code only)."""

"""Temporal activities: thin wrappers over `pressroom.steps` with heartbeats and retries."""

"""The HTTP API (aiohttp): start jobs, inspect them, health."""

"""`python -m api`: run the HTTP API (same as `pressroom api`)."""

import asyncio

from pressroom.api.app import serve

from pressroom.config import Settings
from pressroom.runtime.logs import configure_logging

if __name__ == "__main__":
    settings = Settings()
    configure_logging(settings)
    asyncio.run(serve(settings))

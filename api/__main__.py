"""`python -m api`: run the HTTP API (same as `pressroom api`)."""

import asyncio
import logging

from api.app import serve
from pressroom.config import Settings

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(Settings()))

"""Client-side Temporal helpers (not workflow code): connecting with Pressroom's settings.

Shared by the worker, the API and the CLI so all three speak to Temporal the same way, with
the pydantic data converter that carries our models.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pressroom.config import Settings


async def connect_client(settings: Settings) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or bool(api_key),
        data_converter=pydantic_data_converter,
    )

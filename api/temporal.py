"""Connecting a Temporal client with Pressroom's settings (address, namespace, TLS, API key).

The API's own connection, shared with the CLI and the worker process (`starter/`, which may
import the API layer) so all three speak to Temporal the same way, with the pydantic data
converter that carries our models.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from pressroom.config import Settings


def tls_config(settings: Settings) -> bool | TLSConfig:
    """TLS for the Temporal connection: mTLS with a client cert/key (and optionally a private
    CA) when their PEM files are configured, plain TLS with an API key or TEMPORAL_TLS."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if bool(cert) != bool(key):
        raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together")
    if cert or key or ca:
        return TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=ca.read_bytes() if ca else None,
        )
    api_key = settings.temporal_api_key
    return settings.temporal_tls or bool(api_key and api_key.get_secret_value())


async def connect_client(settings: Settings, runtime: Runtime | None = None) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
        runtime=runtime,  # None: the default runtime; the worker passes one with metrics
    )

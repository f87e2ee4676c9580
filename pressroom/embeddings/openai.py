"""The OpenAI-compatible embedding provider (OpenAI, or Ollama / vLLM / TEI / LM Studio through
`base_url`), and the mapping of its HTTP failures to `EmbeddingError`s.

The `openai` client's own retries are off (`max_retries=0`): Temporal's retry policy is the
one place retries happen, and `map_api_error` tells it how (429 carries the server's
`retry-after`; 401/403, `insufficient_quota` and unknown models are not worth retrying; a
400 blames the inputs, which `isolate.embed_isolating` narrows down by bisection).

Every call goes through `limited_call`: it holds a place in the provider budget's limiter
(`pressroom.embeddings.limiter`, shared by every worker of the task queue up to
`PROVIDER_MAX_IN_FLIGHT`) and reports the response's rate-limit headers, or its 429, to it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
import openai
from openai import AsyncOpenAI

from pressroom.config import Settings
from pressroom.embeddings.base import (
    DEFAULT_MAX_BATCH_INPUTS,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_INPUT_TOKENS,
    EmbeddingError,
    EmbeddingInputError,
    batched,
    l2_normalize,
    truncate_to_tokens,
)
from pressroom.embeddings.limiter import LimiterSpec, close_limiter, limiter_for
from pressroom.embeddings.shares import leased_share

__all__ = ["OpenAIEmbedder", "limited_call", "limiter_spec", "map_api_error", "openai_client"]

DEFAULT_MODEL = "text-embedding-3-small"
DEFAULT_MAX_IN_FLIGHT = 32  # PROVIDER_MAX_IN_FLIGHT's default
# A local server (Ollama, vLLM) needs no key, but the client insists on one.
_KEYLESS = "unused"
# Request parameters whose rejection is the request's fault, not the inputs'.
_REQUEST_PARAMS = frozenset({"model", "dimensions", "encoding_format", "user"})
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_*\-]{4,}")
_MESSAGE_LIMIT = 300
OPENAI_URL = "https://api.openai.com/v1"


def openai_client(settings: Settings) -> AsyncOpenAI:
    """An async client from settings: no client-side retries, an explicit timeout."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return AsyncOpenAI(
        api_key=key or _KEYLESS,
        base_url=settings.openai_base_url or None,
        max_retries=0,
        timeout=settings.openai_timeout_seconds,
    )


def limiter_spec(settings: Settings, model: str) -> LimiterSpec:
    """The limiter of `model` at the configured provider: `PROVIDER_MAX_IN_FLIGHT` in flight
    at most, shared through Postgres by every worker of `TEMPORAL_TASK_QUEUE`."""
    base = (settings.openai_base_url or OPENAI_URL).rstrip("/")
    key = f"{settings.temporal_task_queue}|{base}|{model}"
    ceiling = settings.provider_max_in_flight
    return LimiterSpec(key=key, ceiling=ceiling, share=lambda: leased_share(settings, key, ceiling))


def local_limiter(client: AsyncOpenAI, model: str) -> LimiterSpec:
    """A limiter for a client built by hand (tests, tools): the default ceiling, this process."""
    return LimiterSpec(key=f"local|{client.base_url}|{model}", ceiling=DEFAULT_MAX_IN_FLIGHT)


async def limited_call(
    spec: LimiterSpec,
    create: Callable[[], Awaitable[Any]],
    *,
    what: str,
    secret: str | None,
    unless: asyncio.Event | None = None,
) -> Any:
    """One provider call, `create` (a `with_raw_response` method), inside the budget's
    limiter; returns the parsed response. Failures raise the mapped `EmbeddingError`
    (not chained: the client's exception chain, httpx tracebacks, would push the failure over
    Temporal's 4 KB activity-failure limit and hide the reason). `unless` set while the call
    waits for a place: `limiter.Abandoned`, nothing sent."""
    async with limiter_for(spec).slot(unless) as slot:
        try:
            raw = await create()
        except openai.OpenAIError as exc:
            err = map_api_error(exc, what=what, secret=secret)
            if err.rate_limited:
                slot.limited(err.retry_after)
            raise err from None
        slot.ok(raw.headers)
    return raw.parse()


def _clean(message: str, secret: str | None = None) -> str:
    """An error message safe for logs and workflow history: no API keys, bounded length."""
    if secret:
        message = message.replace(secret, "***")
    message = _KEY_LIKE.sub(r"\1-***", message)
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for: `retry-after-ms`, `retry-after` in seconds, or an HTTP
    date. None when absent or unparseable."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def map_api_error(exc: Exception, *, what: str, secret: str | None = None) -> EmbeddingError:
    """The `EmbeddingError` an `openai` exception means for Temporal.

    A 400/413/422 about the inputs becomes `EmbeddingInputError(index=-1)`: some input of
    the request is unacceptable, which one is not known (the caller bisects).
    """
    if isinstance(exc, openai.APITimeoutError):
        return EmbeddingError(f"{what}: the request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return EmbeddingError(f"{what}: connection failed: {_clean(str(exc))}", retryable=True)
    if not isinstance(exc, openai.APIStatusError):
        if isinstance(exc, openai.APIResponseValidationError):
            return EmbeddingError(f"{what}: malformed response", retryable=True)
        return EmbeddingError(f"{what}: {_clean(repr(exc), secret)}", retryable=True)
    status = exc.status_code
    detail = _clean(f"{status} {getattr(exc, 'message', '') or exc}", secret)
    if status == 429:
        if exc.code == "insufficient_quota" or exc.type == "insufficient_quota":
            return EmbeddingError(f"{what}: quota exhausted: {detail}", retryable=False)
        return EmbeddingError(
            f"{what}: rate limited: {detail}",
            retryable=True,
            retry_after=retry_after_seconds(exc.response.headers),
            rate_limited=True,
        )
    if status in (401, 403):
        return EmbeddingError(f"{what}: not authorised: {detail}", retryable=False)
    if status in (400, 413, 422):
        if exc.param in _REQUEST_PARAMS:
            return EmbeddingError(f"{what}: request rejected: {detail}", retryable=False)
        return EmbeddingInputError(f"{what}: input rejected: {detail}", index=-1)
    if status in (408, 409) or status >= 500:
        return EmbeddingError(
            f"{what}: server error: {detail}",
            retryable=True,
            retry_after=retry_after_seconds(exc.response.headers),
        )
    return EmbeddingError(f"{what}: request rejected: {detail}", retryable=False)


def decode_embedding(value: object) -> np.ndarray:
    """One vector from a response item: base64 little-endian float32, or a list of floats
    (servers that ignore `encoding_format`)."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise EmbeddingError(f"undecodable base64 vector: {err}", retryable=True) from err
        if len(raw) % 4:
            raise EmbeddingError("base64 vector is not whole float32s", retryable=True)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    raise EmbeddingError(f"unexpected vector type {type(value).__name__}", retryable=True)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint.

    `embed` sends one request per provider-sized batch (at most `max_batch_inputs` inputs and
    `max_batch_tokens` estimated tokens), matches results to inputs by `index` and returns
    L2-normalised float32 rows. Callers that cache per request (the embed step) pass at most
    one batch at a time, so nothing embedded is lost when a later request fails.
    """

    provider = "openai"
    version = "1"  # bump with any change to how inputs are prepared
    max_batch_inputs = DEFAULT_MAX_BATCH_INPUTS
    max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS
    # 8000 *estimated* tokens (about 3 characters each) sits well under the 8191 limit.
    max_input_tokens = DEFAULT_MAX_INPUT_TOKENS

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str = DEFAULT_MODEL,
        dimensions: int = 384,
        owns_client: bool = False,
        limiter: LimiterSpec | None = None,
    ) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be at least 1")
        self.client = client
        self.model = model
        self.dimensions = dimensions
        self.limiter = limiter or local_limiter(client, model)
        self._owns_client = owns_client
        self._secret = client.api_key if client.api_key != _KEYLESS else None

    @classmethod
    def from_settings(cls, settings: Settings, model: str) -> OpenAIEmbedder:
        return cls(
            openai_client(settings),
            model=model,
            dimensions=settings.embedding_dimensions,
            owns_client=True,
            limiter=limiter_spec(settings, model),
        )

    async def aclose(self) -> None:
        """Release the limiter's lease, and close the HTTP client if this embedder made it."""
        await close_limiter(self.limiter)
        if self._owns_client:
            await self.client.close()

    async def __aenter__(self) -> OpenAIEmbedder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        prepared: list[str] = []
        for i, text in enumerate(texts):
            if not text.strip():
                # The API refuses an empty input with a 400 for the whole request: never send one.
                raise EmbeddingInputError("empty input: nothing to embed", index=i)
            prepared.append(truncate_to_tokens(text, self.max_input_tokens))
        out = np.empty((len(prepared), self.dimensions), dtype=np.float32)
        for request in batched(prepared, self.max_batch_inputs, self.max_batch_tokens):
            try:
                out[request] = await self._request([prepared[i] for i in request])
            except EmbeddingInputError as err:
                if err.index >= 0:
                    err.index = request[err.index]  # the caller's position, not the request's
                raise
        return out

    async def _request(self, texts: list[str]) -> np.ndarray:
        what = f"embeddings ({self.model}, {len(texts)} inputs)"
        try:
            response = await limited_call(
                self.limiter,
                lambda: self.client.embeddings.with_raw_response.create(
                    model=self.model,
                    input=texts,
                    dimensions=self.dimensions,
                    encoding_format="base64",
                ),
                what=what,
                secret=self._secret,
            )
        except EmbeddingInputError as err:
            if len(texts) == 1:
                err.index = 0  # a single input: the culprit is known
            raise
        data = list(response.data or [])
        vectors: dict[int, np.ndarray] = {}
        for item in data:
            index = getattr(item, "index", None)
            if not isinstance(index, int) or not 0 <= index < len(texts) or index in vectors:
                raise EmbeddingError(f"{what}: bad result index {index!r}", retryable=True)
            vector = decode_embedding(item.embedding)
            if vector.shape != (self.dimensions,):
                raise EmbeddingError(
                    f"{what}: the server returned {vector.shape[0]}-dimension vectors, "
                    f"EMBEDDING_DIMENSIONS is {self.dimensions}: set it to the model's size "
                    "or use a model that supports `dimensions`",
                    retryable=False,
                )
            vectors[index] = vector
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"{what}: {len(vectors)} vectors for {len(texts)} inputs", retryable=True
            )
        return l2_normalize(np.stack([vectors[i] for i in range(len(texts))]))

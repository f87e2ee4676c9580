"""A local server speaking the OpenAI wire protocol, with fault injection, for tests.

It owns `POST /v1/embeddings` and `POST /v1/chat/completions` (image descriptions) on
127.0.0.1. Embedding vectors come from the hashing embedder at the requested `dimensions`,
so search over them still ranks sensibly. Every request is recorded (body, status, time),
and so is every embedding input (`inputs`: all received; `embedded`: those answered with a
vector), so tests can count what reached the provider.

Faults are programmed from the test and consumed by the next matching requests::

    server.rate_limit(2, retry_after=1.5)     # 429 + retry-after, twice
    server.server_error(1)                     # 500
    server.stall(1, seconds=30)                # answer later than the client's timeout
    server.reject_input("poison")              # 400 for any request containing that input
    server.unauthorized()                      # 401 from now on
    server.insufficient_quota()                # 429 insufficient_quota from now on
    server.latency = 0.2                       # every request takes at least this long
    server.requests_per_minute(600, burst=10)  # a request budget, reported in x-ratelimit-*
                                               # headers; over it: 429 + retry-after

Requests in flight are logged over time (`in_flight_log`, `peak_in_flight`).

Usage: the `openai_server` fixture (async, function-scoped) yields a started `FakeOpenAI`;
`FakeOpenAI.running()` is the same as an async context manager for other fixtures.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import io
import json
import math
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest_asyncio
from aiohttp import web
from PIL import Image

from pressroom.embeddings.hashing import HashingEmbedder

MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
NATIVE_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
DEFAULT_NATIVE_DIMENSIONS = 1536

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.S)


def server_tokens(text: str) -> int:
    """The server's token count: roughly what tiktoken gives for English (4 chars a token),
    deliberately less than the client's conservative estimate, like the real provider."""
    return max(math.ceil(len(text.encode("utf-8")) / 4), len(text.split()))


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    body: Any
    headers: dict[str, str]
    received_at: float  # time.monotonic() when the request arrived
    status: int = 0  # filled in when answered (0: never answered, e.g. cancelled)
    inputs: list[str] = field(default_factory=list)  # embedding inputs (strings)
    fault: str | None = None  # name of the fault that answered it, if any


@dataclass
class Fault:
    """A canned failure for the next `remaining` matching requests (None: forever)."""

    name: str
    status: int
    remaining: int | None
    endpoint: str | None  # "embeddings", "chat" or None for both
    error_type: str = "server_error"
    code: str | None = None
    message: str = "fault injected by the test"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a stall)

    def matches(self, endpoint: str) -> bool:
        return (self.endpoint is None or self.endpoint == endpoint) and self.remaining != 0


def _error(
    status: int,
    message: str,
    error_type: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers or {})


def _duration(seconds: float) -> str:
    """A reset value the way OpenAI writes it: `1.5s`, `120ms`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


@dataclass
class RequestBudget:
    """A provider's request rate limit: a bucket of `capacity` requests refilled at
    `per_minute` / 60 a second, as OpenAI's headers describe it (`reset`: time until whole).

    OpenAI enforces a per-minute limit over shorter spans (600 a minute may mean 10 a second);
    `capacity` models that: one second's worth by default, `per_minute` for a whole minute's
    burst. The headers report the bucket that is enforced (`limit` = `capacity`).
    """

    per_minute: int
    capacity: float
    endpoint: str | None
    tokens: float = 0.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens, self.stamp = self.capacity, time.monotonic()

    @property
    def rate(self) -> float:
        return self.per_minute / 60

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def admit(self) -> float:
        """0 when a request may go now (and takes its place), else seconds until one may."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": f"{int(self.capacity)}",
            "x-ratelimit-remaining-requests": f"{int(self.tokens)}",
            "x-ratelimit-reset-requests": _duration((self.capacity - self.tokens) / self.rate),
        }


def _colour_name(rgb: tuple[int, int, int]) -> str:
    names = {
        "red": (220, 40, 40),
        "green": (40, 170, 60),
        "blue": (40, 70, 220),
        "yellow": (230, 210, 40),
        "black": (10, 10, 10),
        "white": (245, 245, 245),
        "grey": (128, 128, 128),
        "orange": (240, 140, 30),
        "purple": (130, 50, 160),
    }
    return min(names, key=lambda n: sum((a - b) ** 2 for a, b in zip(names[n], rgb, strict=True)))


def describe_image(data: bytes) -> str:
    """A deterministic description: size, shape and dominant colour of the picture."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        width, height = img.size
        small = img.convert("RGB").resize((1, 1))
        pixel = small.getpixel((0, 0))
        assert isinstance(pixel, tuple)
        colour = _colour_name((int(pixel[0]), int(pixel[1]), int(pixel[2])))
        fmt = (img.format or "image").lower()
    shape = "wide" if width > height * 1.2 else "tall" if height > width * 1.2 else "square"
    return f"A {shape} {colour} {fmt} picture, {width} by {height} pixels, mostly {colour}."


class FakeOpenAI:
    """The server state: recorded traffic, programmed faults, and the aiohttp app."""

    def __init__(self, *, shuffle: bool = True, seed: int = 7) -> None:
        self.requests: list[RecordedRequest] = []
        self.inputs: list[str] = []  # every embedding input received, in arrival order
        self.embedded: list[str] = []  # inputs answered with a vector
        self.images: list[dict[str, Any]] = []  # images received: sha256, mime, bytes
        self.faults: list[Fault] = []
        self.rejected_inputs: dict[str, str] = {}  # substring -> 400 message
        self.descriptions: dict[str, str] = {}  # image sha256 -> canned description
        self.describe: Callable[[bytes], str] = describe_image
        self.latency = 0.0  # seconds added to every request
        self.budgets: list[RequestBudget] = []  # request rate limits, per endpoint
        self.in_flight = 0
        self.peak_in_flight = 0
        self.in_flight_log: list[tuple[float, int]] = []  # (time.monotonic(), in flight)
        self.vector_scale = 1.0  # multiply vectors (the client must normalise them)
        self.shuffle = shuffle
        self._rng = random.Random(seed)
        self.base_url = ""  # "http://127.0.0.1:PORT/v1" once started
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- fault programming -------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def rate_limit(
        self,
        times: int | None = 1,
        *,
        retry_after: float | None = 1.0,
        retry_after_ms: float | None = None,
        endpoint: str | None = "embeddings",
    ) -> Fault:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return self.add_fault(
            Fault(
                "rate_limit",
                429,
                times,
                endpoint,
                error_type="requests",
                code="rate_limit_exceeded",
                message="Rate limit reached for requests",
                headers=headers,
            )
        )

    def insufficient_quota(self, times: int | None = None, *, endpoint: str | None = None) -> Fault:
        return self.add_fault(
            Fault(
                "insufficient_quota",
                429,
                times,
                endpoint,
                error_type="insufficient_quota",
                code="insufficient_quota",
                message="You exceeded your current quota, please check your plan and billing.",
            )
        )

    def server_error(
        self, times: int | None = 1, *, status: int = 500, endpoint: str | None = "embeddings"
    ) -> Fault:
        return self.add_fault(Fault("server_error", status, times, endpoint))

    def unauthorized(self, times: int | None = None, *, endpoint: str | None = None) -> Fault:
        return self.add_fault(
            Fault(
                "unauthorized",
                401,
                times,
                endpoint,
                error_type="invalid_request_error",
                code="invalid_api_key",
                message="Incorrect API key provided.",
            )
        )

    def stall(
        self, times: int | None = 1, *, seconds: float = 30.0, endpoint: str | None = "embeddings"
    ) -> Fault:
        """Hold the next request `seconds` (or until shutdown), then answer 500."""
        return self.add_fault(Fault("stall", 500, times, endpoint, delay=seconds))

    def requests_per_minute(
        self, per_minute: int, *, burst: float | None = None, endpoint: str | None = "chat"
    ) -> RequestBudget:
        """Limit `endpoint`'s requests (None: each endpoint its own budget) to `per_minute`,
        with a bucket of `burst` requests (default: a second's worth); see `RequestBudget`."""
        budget = RequestBudget(per_minute, burst or max(1.0, per_minute / 60), endpoint)
        self.budgets.append(budget)
        return budget

    def reject_input(self, substring: str, message: str | None = None) -> None:
        """400 for every embeddings request holding an input that contains `substring`."""
        self.rejected_inputs[substring] = message or (
            "This model's maximum context length is 8192 tokens, however you requested more."
        )

    def clear_faults(self) -> None:
        self.faults.clear()
        self.rejected_inputs.clear()
        self.budgets.clear()
        self.latency = 0.0

    # --- queries for tests -------------------------------------------------------------

    def embedding_requests(self, status: int | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/embeddings") and (status is None or r.status == status)
        ]

    def chat_requests(self, status: int | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions") and (status is None or r.status == status)
        ]

    # --- lifecycle -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[FakeOpenAI]:
        server = cls(**kwargs)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    # --- handlers ------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> tuple[RecordedRequest, Any]:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = RecordedRequest(
            path=request.path,
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
            received_at=time.monotonic(),
        )
        self.requests.append(rec)
        return rec, body

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)

    async def _fault(self, rec: RecordedRequest, endpoint: str) -> web.Response | None:
        for fault in self.faults:
            if fault.matches(endpoint):
                if fault.remaining is not None:
                    fault.remaining -= 1
                rec.fault = fault.name
                await self._wait(fault.delay)
                return _error(
                    fault.status, fault.message, fault.error_type, fault.code, headers=fault.headers
                )
        return None

    def _budget(self, endpoint: str) -> RequestBudget | None:
        for budget in self.budgets:
            if budget.endpoint is None or budget.endpoint == endpoint:
                return budget
        return None

    def _count(self, delta: int) -> None:
        self.in_flight += delta
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.in_flight_log.append((time.monotonic(), self.in_flight))

    async def _answer(
        self, rec: RecordedRequest, endpoint: str, handler: Callable[[], web.Response]
    ) -> web.Response:
        self._count(+1)
        try:
            budget = self._budget(endpoint)
            wait = budget.admit() if budget else 0.0
            if budget and wait > 0:
                # Over the budget: answered at once, as the provider does.
                rec.fault = "rate_limit"
                response = _error(
                    429,
                    "Rate limit reached for requests",
                    "requests",
                    "rate_limit_exceeded",
                    headers={
                        **budget.headers(),
                        "retry-after-ms": f"{math.ceil(wait * 1000)}",
                        "retry-after": f"{math.ceil(wait)}",
                    },
                )
            else:
                limits = budget.headers() if budget else {}
                await self._wait(self.latency)
                response = await self._fault(rec, endpoint)
                if response is None:
                    try:
                        response = handler()
                    except _BadRequest as err:
                        response = _error(400, str(err), "invalid_request_error", param=err.param)
                response.headers.update(limits)
            rec.status = response.status
            return response
        finally:
            self._count(-1)

    async def _models(self, request: web.Request) -> web.Response:
        models = ["text-embedding-3-small", "text-embedding-3-large", "gpt-4o-mini"]
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        rec, body = await self._record(request)
        texts: list[str] = []
        if isinstance(body, dict):
            raw_input = body.get("input")
            if isinstance(raw_input, str):
                texts = [raw_input]
            elif isinstance(raw_input, list):
                texts = [x if isinstance(x, str) else json.dumps(x) for x in raw_input]
        rec.inputs = texts
        self.inputs.extend(texts)
        return await self._answer(rec, "embeddings", lambda: self._embed(body, texts, rec))

    def _embed(self, body: Any, texts: list[str], rec: RecordedRequest) -> web.Response:
        if not isinstance(body, dict) or "model" not in body or "input" not in body:
            raise _BadRequest("you must provide a model and an input", "input")
        if not texts:
            raise _BadRequest("'$.input' is invalid: an empty list", "input")
        if len(texts) > MAX_INPUTS:
            raise _BadRequest(f"'$.input' must have at most {MAX_INPUTS} items", "input")
        total = 0
        for text in texts:
            if text == "":
                raise _BadRequest("'$.input' is invalid: an empty string", "input")
            for needle, message in self.rejected_inputs.items():
                if needle in text:
                    raise _BadRequest(message, "input")
            tokens = server_tokens(text)
            if tokens > MAX_INPUT_TOKENS:
                raise _BadRequest(
                    f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, "
                    f"however you requested {tokens} tokens",
                    "input",
                )
            total += tokens
        if total > MAX_REQUEST_TOKENS:
            raise _BadRequest(
                f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request", "input"
            )
        model = str(body["model"])
        dims = body.get("dimensions")
        if dims is None:
            dims = NATIVE_DIMENSIONS.get(model, DEFAULT_NATIVE_DIMENSIONS)
        if not isinstance(dims, int) or dims < 1:
            raise _BadRequest("dimensions must be a positive integer", "dimensions")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise _BadRequest("encoding_format must be float or base64", "encoding_format")
        vectors = HashingEmbedder(dimensions=max(dims, 2)).embed_sync(texts)[:, :dims]
        vectors = vectors * np.float32(self.vector_scale)
        data: list[dict[str, Any]] = []
        for i, vec in enumerate(vectors):
            emb: Any = (
                base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
                if fmt == "base64"
                else [float(x) for x in vec]
            )
            data.append({"object": "embedding", "index": i, "embedding": emb})
        if self.shuffle:
            self._rng.shuffle(data)
        self.embedded.extend(texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": total, "total_tokens": total},
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        rec, body = await self._record(request)
        return await self._answer(rec, "chat", lambda: self._complete(body))

    def _complete(self, body: Any) -> web.Response:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise _BadRequest("you must provide a model and messages", "messages")
        images: list[bytes] = []
        for message in body["messages"]:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "image_url":
                    continue
                url = (part.get("image_url") or {}).get("url", "")
                match = _DATA_URL.match(url)
                if not match:
                    raise _BadRequest("image_url must be a base64 data URL here", "messages")
                try:
                    data = base64.b64decode(match["data"], validate=True)
                except binascii.Error as err:
                    raise _BadRequest(f"invalid base64 image: {err}", "messages") from err
                sha = hashlib.sha256(data).hexdigest()
                self.images.append({"sha256": sha, "mime": match["mime"], "bytes": len(data)})
                images.append(data)
        if not images:
            text = "I can only describe images."
        else:
            parts = []
            for data in images:
                sha = hashlib.sha256(data).hexdigest()
                if sha in self.descriptions:
                    parts.append(self.descriptions[sha])
                    continue
                try:
                    parts.append(self.describe(data))
                except Exception as err:  # Pillow cannot read it: the API's answer is a 400
                    raise _BadRequest(
                        "You uploaded an unsupported image. Please make sure your image is valid.",
                        "messages",
                    ) from err
            text = " ".join(parts)
        return web.json_response(
            {
                "id": f"chatcmpl-{self._rng.getrandbits(48):012x}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model", "")),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 85, "completion_tokens": 20, "total_tokens": 105},
            }
        )


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[FakeOpenAI]:
    """A started fake OpenAI server on 127.0.0.1 for one test."""
    async with FakeOpenAI.running() as server:
        yield server

"""An OpenAI-compatible embeddings server that models a remote provider's costs, for the bench.

`POST /v1/embeddings` answers after a fixed latency per request and enforces a per-minute
token budget (sliding 60 s window): a request that would exceed it gets the provider's 429
with `retry-after`. Vectors are deterministic (seeded by each input's sha256), so repeated
runs send and receive the same bytes. It counts requests, inputs, tokens and 429s for the
report. `POST /v1/chat/completions` (image descriptions) answers after the same latency.
Only on loopback; no faults beyond the rate limit (tests/fakes/openai_server.py has those).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

MAX_INPUTS = 2048
WINDOW_S = 60.0


def tokens_of(text: str) -> int:
    """About what a BPE tokenizer gives for English: 4 bytes a token."""
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


def vector_for(text: str, dims: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


@dataclass
class LatencyServer:
    latency_s: float = 0.3
    tokens_per_minute: int = 1_000_000
    dimensions: int = 384
    requests: int = 0
    inputs: int = 0
    tokens: int = 0
    rate_limited: int = 0
    chat_requests: int = 0
    concurrent_peak: int = 0
    base_url: str = ""
    _window: deque[tuple[float, int]] = field(default_factory=deque)
    _in_flight: int = 0

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "inputs": self.inputs,
            "tokens": self.tokens,
            "rateLimited": self.rate_limited,
            "chatRequests": self.chat_requests,
            "concurrentPeak": self.concurrent_peak,
        }

    def reset(self) -> None:
        self.requests = self.inputs = self.tokens = self.rate_limited = self.chat_requests = 0
        self.concurrent_peak = 0
        self._window.clear()

    def _admit(self, tokens: int) -> float:
        """0 if the budget has room for `tokens` now, else seconds until it will."""
        now = time.monotonic()
        while self._window and now - self._window[0][0] >= WINDOW_S:
            self._window.popleft()
        used = sum(t for _, t in self._window)
        if used + tokens <= self.tokens_per_minute or not self._window:
            self._window.append((now, tokens))
            return 0.0
        # Wait until enough of the oldest entries leave the window.
        freed, wait = 0, WINDOW_S
        for ts, t in self._window:
            freed += t
            if used - freed + tokens <= self.tokens_per_minute:
                wait = WINDOW_S - (now - ts)
                break
        return max(wait, 0.05)

    async def _embeddings(self, request: web.Request) -> web.Response:
        self._in_flight += 1
        self.concurrent_peak = max(self.concurrent_peak, self._in_flight)
        try:
            body = await request.json()
            raw = body.get("input")
            texts = [raw] if isinstance(raw, str) else list(raw or [])
            if not texts or len(texts) > MAX_INPUTS:
                return _error(400, f"input must hold 1..{MAX_INPUTS} items", "invalid_request")
            tokens = sum(tokens_of(t) for t in texts)
            await asyncio.sleep(self.latency_s)
            wait = self._admit(tokens)
            if wait:
                self.rate_limited += 1
                return _error(
                    429,
                    f"Rate limit reached: {self.tokens_per_minute} tokens per min",
                    "tokens",
                    code="rate_limit_exceeded",
                    headers={"retry-after": f"{wait:.2f}"},
                )
            self.requests += 1
            self.inputs += len(texts)
            self.tokens += tokens
            dims = int(body.get("dimensions") or self.dimensions)
            b64 = body.get("encoding_format") == "base64"
            data = []
            for i, text in enumerate(texts):
                vec = vector_for(text, dims)
                emb: Any = (
                    base64.b64encode(vec.astype("<f4").tobytes()).decode() if b64 else vec.tolist()
                )
                data.append({"object": "embedding", "index": i, "embedding": emb})
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return web.json_response(
                {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
            )
        finally:
            self._in_flight -= 1

    async def _chat(self, request: web.Request) -> web.Response:
        """An image description (vision chat completion) after the same latency."""
        body = await request.json()
        await asyncio.sleep(self.latency_s)
        self.chat_requests += 1
        digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode())
        text = f"A small generated picture, fingerprint {digest.hexdigest()[:12]}."
        return web.json_response(
            {
                "id": f"chatcmpl-{digest.hexdigest()[:16]}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 85, "completion_tokens": 12, "total_tokens": 97},
            }
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LatencyServer]:
        runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        try:
            yield self
        finally:
            await runner.cleanup()


def _error(
    status: int,
    message: str,
    kind: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)

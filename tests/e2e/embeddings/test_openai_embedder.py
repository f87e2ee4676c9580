"""The OpenAI-compatible embedder and image describer, with the real `openai` client against the
local fake server (tests/fakes/openai_server.py): batching limits, order, dimensions, the
error mapping Temporal retries by, per-input isolation, and image preparation."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from PIL import Image
from pydantic import SecretStr

from pressroom.config import Settings
from pressroom.embeddings import HashingEmbedder, make_embedder
from pressroom.embeddings.base import (
    EmbeddingError,
    EmbeddingInputError,
    estimate_tokens,
)
from pressroom.embeddings.inputs import input_sha256
from pressroom.embeddings.isolate import PROBE_INPUT, embed_isolating
from pressroom.embeddings.openai import (
    OpenAIEmbedder,
    _clean,
    decode_embedding,
    retry_after_seconds,
)
from pressroom.embeddings.vision import (
    MAX_SIDE,
    ImageDescriber,
    UnsupportedImage,
    make_describer,
    prepare_image,
)
from pressroom.steps.embed import EmbedInput, embed_batch
from pressroom.steps.env import EmbedEnv
from pressroom.storage import open_store
from pressroom.storage.workstore import WorkKeys, vectors_from_bytes, write_jsonl
from tests.fakes.openai_server import (
    MAX_INPUT_TOKENS,
    MAX_REQUEST_TOKENS,
    FakeOpenAI,
    openai_server,
    server_tokens,
)

__all__ = ["openai_server"]  # the fixture, re-exported for pytest


def client_for(server: FakeOpenAI, timeout: float = 10.0) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=timeout)


@pytest_asyncio.fixture
async def embedder(openai_server: FakeOpenAI) -> AsyncIterator[OpenAIEmbedder]:
    async with OpenAIEmbedder(client_for(openai_server), owns_client=True) as emb:
        yield emb


def expected_vectors(texts: list[str], dims: int = 384) -> np.ndarray:
    return HashingEmbedder(dimensions=dims).embed_sync(texts)


def png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


# --- requests: batching, order, dimensions ---------------------------------------------


async def test_order_preserved_and_dimensions_honoured(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    texts = [f"weather station post number {i} about wind and solar" for i in range(50)]
    vectors = await embedder.embed(texts)
    assert vectors.shape == (50, 384) and vectors.dtype == np.float32
    # The server shuffles `data`; matching by `index` restores input order.
    np.testing.assert_allclose(vectors, expected_vectors(texts), atol=1e-6)
    [request] = openai_server.embedding_requests()
    assert request.body["dimensions"] == 384
    assert request.body["encoding_format"] == "base64"
    assert request.body["model"] == "text-embedding-3-small"
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_other_dimensions_and_normalisation(openai_server: FakeOpenAI) -> None:
    openai_server.vector_scale = 3.5  # a server returning unnormalised vectors
    async with OpenAIEmbedder(client_for(openai_server), dimensions=256, owns_client=True) as emb:
        vectors = await emb.embed(["alpha beta", "gamma delta"])
    assert vectors.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert openai_server.embedding_requests()[0].body["dimensions"] == 256


async def test_batches_stay_within_input_and_token_limits(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    many = [f"short input {i}" for i in range(5000)]
    long_text = "word " * 20_000  # far over one input's limit: cut, never refused
    big = [f"{i} {long_text}" for i in range(60)]
    vectors = await embedder.embed(many + big)
    assert vectors.shape == (5060, 384)
    requests = openai_server.embedding_requests()
    assert all(r.status == 200 for r in requests), [r.status for r in requests]
    assert max(len(r.inputs) for r in requests) <= 2048
    # 5060 inputs fit in 3 requests by count; the 60 long ones (about 480k estimated
    # tokens once cut) need at least 2 requests of their own by tokens.
    assert len(requests) >= 4
    assert sum(1 for r in requests if any(len(t) > 10_000 for t in r.inputs)) >= 2
    for r in requests:
        assert sum(server_tokens(t) for t in r.inputs) <= MAX_REQUEST_TOKENS
        assert sum(estimate_tokens(t) for t in r.inputs) <= embedder.max_batch_tokens
        assert all(0 < server_tokens(t) <= MAX_INPUT_TOKENS for t in r.inputs)
    # Each input reached the server exactly once, in order.
    assert len(openai_server.embedded) == 5060
    np.testing.assert_allclose(vectors[:5000], expected_vectors(many), atol=1e-6)


async def test_empty_input_is_never_sent(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    with pytest.raises(EmbeddingInputError) as info:
        await embedder.embed(["fine", "  \n", "also fine"])
    assert info.value.index == 1
    assert openai_server.requests == []


def test_decode_embedding_accepts_base64_and_float_lists() -> None:
    vec = np.array([0.5, -0.25, 1.0], dtype="<f4")
    encoded = base64.b64encode(vec.tobytes()).decode()
    np.testing.assert_array_equal(decode_embedding(encoded), vec)
    np.testing.assert_array_equal(decode_embedding([0.5, -0.25, 1.0]), vec)
    with pytest.raises(EmbeddingError):
        decode_embedding("not base64!!")


# --- errors: what Temporal is told -------------------------------------------------------


async def test_429_is_retryable_with_retry_after(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    openai_server.rate_limit(1, retry_after=2.5)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert info.value.retryable and info.value.retry_after == 2.5
    assert not isinstance(info.value, EmbeddingInputError)
    openai_server.rate_limit(1, retry_after=None, retry_after_ms=1500)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert info.value.retryable and info.value.retry_after == 1.5
    # Exactly one request each: the client's own retries are off.
    assert [r.status for r in openai_server.requests] == [429, 429]
    assert (await embedder.embed(["a"])).shape == (1, 384)


async def test_quota_and_auth_errors_are_final(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    openai_server.insufficient_quota(1)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert not info.value.retryable and "quota" in info.value.message
    openai_server.unauthorized(1)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert not info.value.retryable and "401" in info.value.message
    assert len(openai_server.requests) == 2


async def test_server_errors_and_timeouts_are_retryable(openai_server: FakeOpenAI) -> None:
    async with OpenAIEmbedder(client_for(openai_server, timeout=0.5), owns_client=True) as emb:
        openai_server.server_error(1, status=503)
        with pytest.raises(EmbeddingError) as info:
            await emb.embed(["a"])
        assert info.value.retryable and "503" in info.value.message
        openai_server.stall(1, seconds=5)
        with pytest.raises(EmbeddingError) as info:
            await emb.embed(["a"])
        assert info.value.retryable and "timed out" in info.value.message
    # A refused connection is retryable too.
    dead = AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    async with OpenAIEmbedder(dead, owns_client=True) as emb:
        with pytest.raises(EmbeddingError) as info:
            await emb.embed(["a"])
        assert info.value.retryable


async def test_400_blames_inputs_unless_a_parameter_is_named(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    openai_server.reject_input("POISON")
    with pytest.raises(EmbeddingInputError) as info:
        await embedder.embed(["ok", "POISON here"])
    assert info.value.index == -1  # which one is unknown for a batch
    with pytest.raises(EmbeddingInputError) as info:
        await embedder.embed(["POISON alone"])
    assert info.value.index == 0
    async with OpenAIEmbedder(client_for(openai_server), dimensions=384, owns_client=True) as emb:
        emb.dimensions = 0  # a parameter the server refuses: the request's fault
        with pytest.raises(EmbeddingError) as info:
            await emb._request(["fine"])
        assert not isinstance(info.value, EmbeddingInputError) and not info.value.retryable


async def test_isolating_bisects_to_the_refused_inputs(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    texts = [f"section {i} about rain gauges" for i in range(40)]
    texts[7] = "POISON one"
    texts[31] = "POISON two"
    openai_server.reject_input("POISON")
    kept: dict[int, np.ndarray] = {}

    async def keep(indices: list[int], vectors: np.ndarray) -> None:
        kept.update(zip(indices, vectors, strict=True))

    failures = await embed_isolating(embedder, texts, keep)
    assert sorted(failures) == [7, 31]
    assert "input rejected" in failures[7]
    assert sorted(kept) == [i for i in range(40) if i not in (7, 31)]
    np.testing.assert_allclose(kept[3], expected_vectors([texts[3]])[0], atol=1e-6)
    # Every good input was embedded exactly once; no probe was needed.
    assert sorted(openai_server.embedded) == sorted(t for t in texts if "POISON" not in t)
    assert len(openai_server.embedding_requests()) < 20


async def test_isolating_refuses_to_blame_every_input(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder
) -> None:
    openai_server.reject_input("")  # every request fails: a misconfigured server or model

    async def keep(indices: list[int], vectors: np.ndarray) -> None:
        raise AssertionError("nothing can be embedded")

    with pytest.raises(EmbeddingError) as info:
        await embed_isolating(embedder, ["a b", "c d", "e f"], keep)
    assert not info.value.retryable and "every request" in info.value.message
    assert openai_server.inputs[-1] == PROBE_INPUT


def test_retry_after_formats_and_secret_redaction() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    cleaned = _clean("Incorrect API key provided: sk-proj-abcdef123456. key=my-secret", "my-secret")
    assert "abcdef" not in cleaned and "my-secret" not in cleaned


# --- settings ------------------------------------------------------------------------------


def test_provider_and_model_resolution() -> None:
    plain = Settings()
    assert plain.resolved_embedding_provider == "hashing"
    assert not plain.image_descriptions_enabled
    assert make_embedder(plain).model == "hashing-v1"

    keyed = Settings(OPENAI_API_KEY="sk-test")
    assert keyed.resolved_embedding_provider == "openai"
    assert keyed.image_descriptions_enabled
    emb = make_embedder(keyed)
    assert isinstance(emb, OpenAIEmbedder)
    assert (emb.provider, emb.model, emb.dimensions) == ("openai", "text-embedding-3-small", 384)

    local = Settings(
        OPENAI_BASE_URL="http://127.0.0.1:11434/v1",
        EMBEDDING_MODEL="nomic-embed-text",
        EMBEDDING_DIMENSIONS=768,
        IMAGE_DESCRIPTIONS="false",
    )
    emb = make_embedder(local)
    assert isinstance(emb, OpenAIEmbedder)
    assert (emb.model, emb.dimensions) == ("nomic-embed-text", 768)
    assert str(emb.client.base_url).startswith("http://127.0.0.1:11434/v1")
    assert emb.client.max_retries == 0
    assert make_describer(local, emb) is None

    pinned = Settings(EMBEDDING_PROVIDER="hashing", OPENAI_API_KEY="sk-test")
    assert make_embedder(pinned).provider == "hashing"
    assert make_describer(pinned, make_embedder(pinned)) is None
    on = Settings(IMAGE_DESCRIPTIONS="true", OPENAI_API_KEY=SecretStr("sk-x"), VISION_MODEL="v")
    describer = make_describer(on, make_embedder(on))
    assert describer is not None and describer.model == "v"


# --- image descriptions ----------------------------------------------------------------------


def test_prepare_image_downscales_large_and_refuses_unsupported() -> None:
    small = png((64, 48))
    assert prepare_image(small, "image/png") == (small, "image/png")
    data, mime = prepare_image(png((3000, 1500)), "image/png")
    assert mime == "image/jpeg"
    with Image.open(io.BytesIO(data)) as img:
        assert max(img.size) == MAX_SIDE and img.size == (MAX_SIDE, MAX_SIDE // 2)
    with pytest.raises(UnsupportedImage):
        prepare_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    with pytest.raises(UnsupportedImage):
        prepare_image(b"\x89PNG not really", "image/png")


async def test_describer_sends_a_data_url_and_returns_the_description(
    openai_server: FakeOpenAI,
) -> None:
    describer = ImageDescriber(client_for(openai_server), "gpt-4o-mini", owns_client=True)
    try:
        text = await describer.describe(png((2400, 1200), (30, 60, 220)), "image/png")
        assert "blue" in text and "1024 by 512" in text
        [request] = openai_server.chat_requests()
        assert request.body["model"] == "gpt-4o-mini"
        part = request.body["messages"][0]["content"][1]
        assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
        with pytest.raises(UnsupportedImage):
            await describer.describe(b"<svg/>", "image/svg+xml")
        assert len(openai_server.chat_requests()) == 1  # never sent
        openai_server.rate_limit(1, retry_after=4, endpoint="chat")
        with pytest.raises(EmbeddingError) as info:
            await describer.describe(png((10, 10)), "image/png")
        assert info.value.retryable and info.value.retry_after == 4
        tiny = png((10, 10))
        openai_server.descriptions[hashlib.sha256(tiny).hexdigest()] = "a canned answer"
        assert await describer.describe(tiny, "image/png") == "a canned answer"
    finally:
        await describer.aclose()


# --- the embed step: limits and refusals inside one batch ------------------------------------


async def test_embed_step_reports_refused_inputs_and_stays_within_limits(
    openai_server: FakeOpenAI, embedder: OpenAIEmbedder, tmp_path: Path
) -> None:
    keys = WorkKeys("job-step")
    texts = [f"section {i} on soil moisture sensors" for i in range(3000)]
    texts[5] = ""  # an empty post's section
    texts[9] = "long " * 60_000  # a post far over 20k tokens
    texts[2500] = "POISON section"
    texts[2501] = texts[0]  # a duplicate input is embedded once
    rows = [{"id": f"post#{i}", "sha256": input_sha256(t), "input": t} for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "in.jsonl", rows)
    openai_server.reject_input("POISON")
    async with open_store(str(tmp_path / "store")) as store:
        await store.put_file(keys.embed_inputs("text", 0), tmp_path / "in.jsonl")
        env = EmbedEnv(store=store, keys=keys, scratch=tmp_path / "scratch", embedder=embedder)
        summary = await embed_batch(EmbedInput(kind="text", batch=0), env)
        matrix = vectors_from_bytes(await store.get_bytes(keys.vectors("text", 0)))
        failures = (await store.get_bytes(keys.embed_failures("text", 0))).decode()
    assert summary.failed == 2 and summary.computed == 2997
    assert {f.path: f.reason for f in summary.failures}.keys() == {"post#5", "post#2500"}
    assert "empty" in summary.failures[0].reason and "rejected" in summary.failures[1].reason
    assert "post#2500" in failures
    missing = np.flatnonzero(~np.isfinite(matrix).all(axis=1)).tolist()
    assert missing == [5, 2500]
    np.testing.assert_array_equal(matrix[2501], matrix[0])
    for request in openai_server.embedding_requests():
        assert len(request.inputs) <= 2048
        assert sum(server_tokens(t) for t in request.inputs) <= MAX_REQUEST_TOKENS
        assert all(t.strip() and server_tokens(t) <= MAX_INPUT_TOKENS for t in request.inputs)
    assert not [r for r in openai_server.requests if r.status not in (200, 400)]
    assert len(openai_server.embedded) == len(set(openai_server.embedded)) == 2997

"""Image descriptions from a vision-capable chat model, so text queries can find images.

`ImageDescriber` sends an image as a data URL (downscaled first with Pillow when large) to
an OpenAI-compatible `/v1/chat/completions` endpoint and returns the model's description.
Formats the model cannot read (SVG, unreadable files) raise `UnsupportedImage`, and so does
an image the server refuses with a 400: the caller skips and reports it. Other failures map
to `EmbeddingError` exactly as for embeddings (429 retry-after, 5xx retryable, 401 final).

`DescriptionCache` keeps descriptions in Postgres keyed by (image sha256, model, prompt
version): a retried batch or a later revision never describes the same image twice.

Requests go through the vision model's limiter (`openai.limited_call`). The `openai` package
is imported only when descriptions are on: a worker with the local embedder never loads it.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg
from PIL import Image, ImageSequence

from pressroom.config import Settings
from pressroom.db import cache
from pressroom.embeddings.base import Embedder, EmbeddingError, EmbeddingInputError
from pressroom.embeddings.limiter import LimiterSpec, close_limiter

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["DescriptionCache", "ImageDescriber", "UnsupportedImage", "make_describer"]

# Bump with any change to PROMPT or to how images are prepared: cached descriptions expire.
PROMPT_VERSION = "1"
PROMPT = (
    "Describe this image for a search index in two or three plain sentences: the subject, "
    "the setting, any legible text, notable colours and the kind of image (photo, diagram, "
    "screenshot, chart, illustration). No preamble."
)
MAX_SIDE = 1024  # pixels on the longer side; larger images are downscaled before sending
MAX_SEND_BYTES = 1024 * 1024  # smaller images with this many bytes or more are re-encoded too
MAX_DESCRIPTION_CHARS = 2000
# What OpenAI's vision models accept (GIF: the first frame is what counts).
SUPPORTED_MIME = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_PILLOW_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]


class UnsupportedImage(Exception):
    """This image cannot be described (format, unreadable bytes, refused by the model)."""


def prepare_image(data: bytes, mime: str) -> tuple[bytes, str]:
    """The bytes and mime type to send: the original when small enough, else a downscaled
    PNG (transparency) or JPEG. Raises `UnsupportedImage` for other formats or bad bytes."""
    if mime not in SUPPORTED_MIME:
        raise UnsupportedImage(f"{mime} is not a format the vision model reads")
    try:
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as img:
            animated = getattr(img, "n_frames", 1) > 1
            if not animated and max(img.size) <= MAX_SIDE and len(data) < MAX_SEND_BYTES:
                return data, mime
            frame = next(iter(ImageSequence.Iterator(img))).copy()
    except Exception as err:
        # Pillow raises many types on bad or hostile input (OSError, SyntaxError,
        # DecompressionBombError, ...): all mean the same here.
        raise UnsupportedImage(f"unreadable image: {type(err).__name__}") from err
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info:
        frame.convert("RGBA").save(out, "PNG", optimize=True)
        return out.getvalue(), "image/png"
    frame.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class ImageDescriber:
    """Describes images with a vision-capable chat model."""

    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        *,
        limiter: LimiterSpec | None = None,
        max_tokens: int = 300,
        owns_client: bool = False,
    ) -> None:
        from pressroom.embeddings.openai import local_limiter

        self.client = client
        self.model = model
        self.limiter = limiter or local_limiter(client, model)
        self.max_tokens = max_tokens
        self._owns_client = owns_client

    @property
    def max_in_flight(self) -> int:
        """Most requests this describer ever has in flight (the limiter's ceiling)."""
        return self.limiter.ceiling

    async def aclose(self) -> None:
        await close_limiter(self.limiter)
        if self._owns_client:
            await self.client.close()

    async def describe(self, data: bytes, mime: str, *, unless: asyncio.Event | None = None) -> str:
        """One image's description. Raises `UnsupportedImage` or `EmbeddingError`, or
        `limiter.Abandoned` when `unless` is set before the request could be sent."""
        from pressroom.embeddings.openai import limited_call

        prepared, sent_mime = await asyncio.to_thread(prepare_image, data, mime)
        what = f"image description ({self.model})"
        try:
            response = await limited_call(
                self.limiter,
                lambda: self.client.chat.completions.with_raw_response.create(
                    model=self.model,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": PROMPT},
                                {
                                    "type": "image_url",
                                    "image_url": {
                                        "url": data_url(prepared, sent_mime),
                                        "detail": "low",
                                    },
                                },
                            ],
                        }
                    ],
                    max_completion_tokens=self.max_tokens,
                ),
                what=what,
                secret=self.client.api_key,
                unless=unless,
            )
        except EmbeddingInputError as err:
            raise UnsupportedImage(err.message) from None
        choices = response.choices or []
        text = (choices[0].message.content or "") if choices else ""
        text = " ".join(text.split())
        if not text:
            raise EmbeddingError(f"{what}: empty answer", retryable=True)
        return text[:MAX_DESCRIPTION_CHARS]


class DescriptionCache:
    """Descriptions in Pressroom's database (table `image_descriptions`)."""

    def __init__(self, pool: asyncpg.Pool, model: str, prompt_version: str = PROMPT_VERSION):
        self.pool = pool
        self.model = model
        self.prompt_version = prompt_version

    async def get(self, shas: Sequence[str]) -> dict[str, str]:
        if not shas:
            return {}
        async with self.pool.acquire() as conn:
            return await cache.get_descriptions(conn, self.model, self.prompt_version, shas)

    async def put(self, sha: str, description: str) -> None:
        async with self.pool.acquire() as conn:
            await cache.put_description(conn, self.model, self.prompt_version, sha, description)


def make_describer(settings: Settings, embedder: Embedder) -> ImageDescriber | None:
    """The describer settings ask for (`IMAGE_DESCRIPTIONS`, `VISION_MODEL`), or None.

    Shares the embedder's OpenAI client when it has one; otherwise the describer owns a
    client of its own (release it with `aclose`).
    """
    if not settings.image_descriptions_enabled:
        return None
    from openai import AsyncOpenAI

    from pressroom.embeddings.openai import limiter_spec, openai_client

    limiter = limiter_spec(settings, settings.vision_model)
    client = getattr(embedder, "client", None)
    if isinstance(client, AsyncOpenAI):
        return ImageDescriber(client, settings.vision_model, limiter=limiter)
    return ImageDescriber(
        openai_client(settings), settings.vision_model, limiter=limiter, owns_client=True
    )

"""A worker whose embedder is the local one never imports `openai` (about 40 MB and a second
of start-up): checked in a fresh interpreter that imports the worker's modules and builds
its embedder and describer from settings, as the worker does."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
import pressroom.starter.worker
import pressroom.activities.pipeline
from pressroom.config import Settings
from pressroom.embeddings import make_embedder
from pressroom.embeddings.vision import make_describer

settings = Settings()
embedder = make_embedder(settings)
assert embedder.provider == "hashing", embedder.provider
assert make_describer(settings, embedder) is None
print(sorted(m for m in sys.modules if m == "openai" or m.startswith("openai.")))
"""


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EMBEDDING_"))}
    clean.update(env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_local_embedder_worker_never_imports_openai() -> None:
    assert probe() == "[]"


def test_the_probe_sees_openai_when_descriptions_are_on() -> None:
    # The same probe fails when the describer is wanted: it does see the import.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EMBEDDING_"))}
    code = PROBE.replace("assert make_describer(settings, embedder) is None", "")
    code += "make_describer(Settings(IMAGE_DESCRIPTIONS=True), embedder)\n"
    code += "print('openai' in sys.modules)\n"
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "True"

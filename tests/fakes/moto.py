"""moto's S3 server on loopback: the real S3 wire protocol for storage and s3:// source tests.

`moto_endpoint` runs `moto_server` as a subprocess (its own process, so the test's event loop
and the worker it hosts do not share a GIL with the fake) on 127.0.0.1 and a free port, once
per session. `s3_bucket` makes a fresh, uniquely named bucket per test, so tests never see
each other's objects. `s3_settings` turns a test's Settings into ones that use the bucket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pressroom.config import Settings

ACCESS_KEY = "moto-test-key"
SECRET_KEY = "moto-test-secret-do-not-log"  # a known value the secrets tests can look for
REGION = "us-east-1"
MOTO_BIN = Path(sys.executable).parent / "moto_server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310 - loopback
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`http://127.0.0.1:<port>` of a moto S3 server running for the whole session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(log.parent),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    for _ in range(3):  # the free port can be taken between probing and binding
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        if _wait_ready(url, proc):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"moto_server did not start; see {log}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def s3_admin(endpoint: str) -> Any:
    """A plain boto3 client on the moto server, for test setup and read-back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A new empty bucket on the moto server."""
    name = f"pressroom-{uuid.uuid4().hex[:16]}"
    s3_admin(moto_endpoint).create_bucket(Bucket=name)
    return name


def s3_settings(settings: Settings, endpoint: str, **update: Any) -> Settings:
    """`settings` pointed at the moto server (artifacts etc. go in `update`)."""
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "s3_endpoint_url": endpoint,
            "s3_region": REGION,
            "s3_addressing_style": "path",
            "aws_access_key_id": SecretStr(ACCESS_KEY),
            "aws_secret_access_key": SecretStr(SECRET_KEY),
            **update,
        }
    )

"""The SSRF guard: policy, connect-time enforcement in aiohttp, redirects, rebinding, callbacks.

Nothing here connects anywhere but loopback: private, link-local and metadata cases use a DNS
stub and a socket tripwire (a socket factory that records and refuses every connect), and
the loopback origin records every request it receives, so "no hit" is checked, not assumed.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import aiohttp
import pytest
from temporalio.client import Client

from pressroom.callbacks import webhooks
from pressroom.config import Settings
from pressroom.security.netguard import (
    DestinationRefused,
    NetworkPolicy,
    classify_address,
    guarded_session,
)
from pressroom.sources import SourceError
from pressroom.sources.http import download_archive
from tests.fakes.dns import SocketTripwire, StubResolver
from tests.fakes.origin import running_origin
from tests.jobs import job_request, start

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"
PUBLIC = "93.184.216.34"  # never connected to: the tripwire stands in for the socket


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # AWS/GCP/Azure metadata
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("100.100.100.200", "non-global"),  # Alibaba metadata (shared address space)
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_policy_refuses_non_public_addresses(address: str, reason: str) -> None:
    found = classify_address(ipaddress.ip_address(address))
    assert found is not None and found.startswith(reason), found
    with pytest.raises(DestinationRefused, match="not a public address"):
        NetworkPolicy().check_address(address)


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111"])
def test_policy_allows_public_addresses(address: str) -> None:
    assert classify_address(ipaddress.ip_address(address)) is None
    NetworkPolicy().check_address(address)


def test_allowlist_entries() -> None:
    policy = NetworkPolicy.from_entries(["Dev.Local.", "10.1.0.0/16", "127.0.0.1", "[::1]", " "])
    assert policy.host_allowed("dev.local") and not policy.host_allowed("other.local")
    policy.check_address("10.1.2.3")
    policy.check_address("127.0.0.1")
    policy.check_address("::ffff:127.0.0.1")  # the mapped form of an allowed address
    policy.check_address("::1")
    with pytest.raises(DestinationRefused):
        policy.check_address("10.2.0.1")
    with pytest.raises(DestinationRefused):
        policy.check_address("127.0.0.2")
    assert Settings(NETWORK_ALLOWLIST="a.test, 10.0.0.0/8").network_allowlist == [
        "a.test",
        "10.0.0.0/8",
    ]


async def _refused(session: aiohttp.ClientSession, url: str) -> DestinationRefused:
    with pytest.raises(DestinationRefused) as err:
        async with session.get(url) as resp:
            pytest.fail(f"{url} answered {resp.status}")
    return err.value


async def test_literal_and_resolved_internal_targets_refused() -> None:
    tripwire = SocketTripwire()
    dns = StubResolver(
        {
            "loopback.test": ["127.0.0.1"],
            "metadata.test": ["169.254.169.254"],
            "mixed.test": [PUBLIC, "10.0.0.5"],  # one bad answer spoils the name
        }
    )
    async with (
        running_origin() as target,
        guarded_session(Settings(), resolver=dns, socket_factory=tripwire) as http,
    ):
        port = target.port
        for url in (
            f"http://127.0.0.1:{port}/a",
            f"http://[::ffff:127.0.0.1]:{port}/b",
            f"http://[::1]:{port}/c",
            "http://10.0.0.5/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            f"http://loopback.test:{port}/d",
            "http://metadata.test/computeMetadata/v1/",
            f"http://mixed.test:{port}/e",
        ):
            await _refused(http, url)
    assert target.hits == []
    assert tripwire.attempts == []  # no socket was even opened
    assert dns.lookups == ["loopback.test", "metadata.test", "mixed.test"]


async def test_dns_rebinding_is_checked_at_every_connect() -> None:
    tripwire = SocketTripwire()
    dns = StubResolver({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    async with (
        running_origin() as target,
        guarded_session(Settings(), resolver=dns, socket_factory=tripwire) as http,
    ):
        url = f"http://rebind.test:{target.port}/"
        # First lookup: public, so the guard lets the connect proceed (to the tripwire).
        with pytest.raises(aiohttp.ClientConnectorError):
            async with http.get(url):
                pass
        # Second lookup: the same name now points inside; refused before any socket.
        await _refused(http, url)
    assert tripwire.attempts == [PUBLIC]
    assert dns.lookups == ["rebind.test", "rebind.test"]
    assert target.hits == []


async def test_redirect_to_internal_address_refused(tmp_path: Path) -> None:
    dns = StubResolver({"origin.test": ["127.0.0.1"], "internal.test": ["127.0.0.1"]})
    # The first hop is allowlisted by name (it is loopback here); its redirects are not.
    settings = Settings(network_allowlist=["origin.test"])
    async with running_origin() as origin, running_origin() as target:
        origin.redirect("/literal.tar.gz", f"http://127.0.0.1:{target.port}/secret")
        origin.redirect("/named.tar.gz", f"http://internal.test:{target.port}/secret")
        origin.redirect("/mapped.zip", f"http://[::ffff:127.0.0.1]:{target.port}/secret")
        async with guarded_session(settings, resolver=dns) as http:
            for path in ("/literal.tar.gz", "/named.tar.gz", "/mapped.zip"):
                url = f"http://origin.test:{origin.port}{path}"
                # The source fetcher follows redirects hop by hop ...
                with pytest.raises(SourceError, match="not a public address"):
                    await download_archive(url, tmp_path, http, 1 << 20, 30)
                # ... and so does aiohttp's own redirect handling, through the same guard.
                await _refused(http, url)
        assert sorted(origin.hits) == sorted(
            ["/literal.tar.gz", "/named.tar.gz", "/mapped.zip"] * 2
        )
    assert target.hits == []
    assert not list(tmp_path.iterdir())  # nothing written


async def test_allowlisted_loopback_is_reachable() -> None:
    async with running_origin() as target:
        target.serve_bytes("/ok", b"fine", "text/plain")
        for entry in ("127.0.0.1", "127.0.0.0/8"):
            async with (
                guarded_session(Settings(network_allowlist=[entry])) as http,
                http.get(f"{target.url}/ok") as resp,
            ):
                assert resp.status == 200 and await resp.read() == b"fine"
        assert target.hits == ["/ok", "/ok"]


async def test_resolve_checked_for_non_aiohttp_clients() -> None:
    dns = StubResolver({"pub.test": [PUBLIC], "priv.test": ["10.0.0.5"]})
    policy = NetworkPolicy()
    assert await policy.resolve_checked("pub.test", 443, dns) == [PUBLIC]
    with pytest.raises(DestinationRefused):
        await policy.resolve_checked("priv.test", 443, dns)
    with pytest.raises(DestinationRefused):
        await policy.resolve_checked("::ffff:127.0.0.1", 443, dns)


async def test_callback_delivery_to_internal_address_is_refused_not_retried() -> None:
    async with running_origin() as receiver, guarded_session(Settings()) as http:
        outcome = await webhooks.deliver(
            http, f"{receiver.url}/hook", b"{}", msg_id="msg_1", secret="s3cret"
        )
    assert not outcome.ok
    assert not outcome.retryable
    assert "DestinationRefused" in (outcome.error or "")
    assert receiver.hits == []


async def test_worker_callbacks_go_through_the_guard(
    settings: Settings, worker: None, temporal_client: Client
) -> None:
    """The worker's HTTP session is the guarded one: with no allowlist, a callback to a
    loopback receiver is refused (the job still completes), and the receiver sees nothing."""
    async with running_origin() as receiver:
        body = job_request(
            EXAMPLE_BLOG, task="parse-only", callback_url=f"{receiver.url}/callback"
        )
        job_id = await start(temporal_client, settings, body)
        handle = temporal_client.get_workflow_handle(job_id)
        await handle.result()
        failures = [
            event.activity_task_failed_event_attributes.failure
            async for event in handle.fetch_history_events()
            if event.HasField("activity_task_failed_event_attributes")
        ]
    assert receiver.hits == []
    assert len(failures) == 1  # refused once, never retried
    assert "DestinationRefused" in failures[0].message
    assert failures[0].application_failure_info.non_retryable

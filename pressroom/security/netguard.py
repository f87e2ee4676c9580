"""The outbound network guard: where callbacks and remote-source fetches may connect (SSRF).

Owns the policy (only public unicast addresses, unless a host, IP or CIDR is on the explicit
`NETWORK_ALLOWLIST`) and its enforcement inside aiohttp at connect time:

* `GuardedResolver` checks every address a name resolves to, so the addresses that are checked
  are exactly the ones the socket connects to (DNS rebinding between a check and the connect is
  impossible: there is one resolution, and the DNS cache is off).
* `GuardedConnector` checks IP-literal hosts itself, because aiohttp never calls the resolver
  for them (`http://127.0.0.1/`, `http://[::ffff:127.0.0.1]/`). `connect` runs for every request
  and every redirect hop, so redirects are re-checked too.
* `guarded_session(settings)` is the only way Pressroom builds an HTTP client session for
  untrusted URLs: `trust_env=False`, so no proxy from the environment can route around it.

A refusal raises `DestinationRefused`, a `ValueError`: bad input that retrying cannot fix.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from pressroom.config import Settings

__all__ = ["DestinationRefused", "NetworkPolicy", "guarded_session"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that embed an IPv4 address a gateway would forward to: judge the embedded one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

SocketFactory = Callable[[Any], socket.socket]


class DestinationRefused(ValueError):
    """A request would reach an address the network policy forbids."""


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]  # the client address the relay forwards to
    return None


def classify_address(addr: IPAddress) -> str | None:
    """Why `addr` is not a public unicast address (e.g. "loopback"), or None if it is one."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            reason = classify_address(embedded)
            return f"{reason} (embedded in {addr})" if reason else None
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        # 169.254.169.254 and fd00:ec2::254 (cloud metadata) are link-local / private.
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("reserved", addr.is_reserved),
        ("private", addr.is_private),
    )
    for reason, hit in checks:
        if hit:
            return reason
    if not addr.is_global:
        # Shared address space (100.64.0.0/10, e.g. Alibaba's metadata service) and the like.
        return "non-global"
    return None


def parse_ip(host: str) -> IPAddress | None:
    """`host` as an IP address (brackets and an IPv6 zone id allowed), or None for a name."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _canonical(addr: IPAddress) -> IPAddress:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@dataclass(frozen=True)
class NetworkPolicy:
    """Public unicast addresses only, plus what the allowlist names explicitly."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> NetworkPolicy:
        """Entries are host names (exact, case-insensitive), IP addresses or CIDR networks."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkPolicy:
        return cls.from_entries(settings.network_allowlist)

    def host_allowed(self, host: str) -> bool:
        """True when the host *name* is allowlisted (its addresses are then not checked)."""
        return host.lower().rstrip(".") in self.allowed_hosts

    def check_address(self, addr: IPAddress | str, host: str | None = None) -> None:
        """Raise DestinationRefused unless `addr` is public or allowlisted."""
        ip = parse_ip(addr) if isinstance(addr, str) else addr
        if ip is None:
            raise DestinationRefused(f"refused: {addr!r} is not an IP address")
        canonical = _canonical(ip)
        if any(
            canonical in net for net in self.allowed_networks if net.version == canonical.version
        ):
            return
        reason = classify_address(ip)
        if reason is None:
            return
        name = f"{host} ({ip})" if host and parse_ip(host) is None else str(ip)
        raise DestinationRefused(
            f"refused to connect to {name}: not a public address ({reason}); "
            "NETWORK_ALLOWLIST lists exceptions for development"
        )

    def check_host(self, host: str) -> None:
        """Check an IP-literal host; names are checked when they resolve."""
        ip = parse_ip(host)
        if ip is not None:
            self.check_address(ip)

    async def resolve_checked(
        self, host: str, port: int, resolver: AbstractResolver | None = None
    ) -> list[str]:
        """Resolve `host` and check every address (for clients other than aiohttp, like git).

        Returns the addresses, so the caller can pin the connection to what was checked.
        """
        ip = parse_ip(host)
        if ip is not None:
            self.check_address(ip)
            return [str(ip)]
        owned = resolver is None
        guarded = GuardedResolver(self, resolver or DefaultResolver())
        try:
            results = await guarded.resolve(host, port, socket.AF_UNSPEC)
        finally:
            if owned:
                await guarded.close()
        return list(dict.fromkeys(r["host"] for r in results))


class GuardedResolver(AbstractResolver):
    """Wraps a resolver; refuses a name when any address it resolves to is not allowed."""

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver) -> None:
        self.policy = policy
        self.inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if not self.policy.host_allowed(host):
            # All of them, not just the first: the connector falls back to the others.
            for result in results:
                self.policy.check_address(result["host"], host)
        return results

    async def close(self) -> None:
        await self.inner.close()


class GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector that applies the policy to IP-literal hosts (the resolver does names)."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolver: AbstractResolver | None = None,
        socket_factory: SocketFactory | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if socket_factory is not None:
            extra["socket_factory"] = socket_factory
        # No DNS cache: every new connection resolves and checks afresh.
        super().__init__(
            resolver=GuardedResolver(policy, resolver or DefaultResolver()),
            use_dns_cache=False,
            **extra,
        )
        self.policy = policy

    async def connect(
        self,
        req: Any,
        traces: Any,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature, overridden
    ) -> Any:
        host = req.url.raw_host or ""
        if not self.policy.host_allowed(host):
            self.policy.check_host(host)
        return await super().connect(req, traces, timeout)


def guarded_session(
    settings: Settings | None = None,
    *,
    policy: NetworkPolicy | None = None,
    resolver: AbstractResolver | None = None,
    socket_factory: SocketFactory | None = None,
    **session_kwargs: Any,
) -> aiohttp.ClientSession:
    """An aiohttp session that can only reach what the network policy allows.

    The policy is `policy`, else the one `settings` describe, else public addresses only.
    `resolver` and `socket_factory` are seams for tests (a stub DNS, a socket that must never
    be opened); production passes neither.
    """
    if policy is None:
        policy = NetworkPolicy.from_settings(settings) if settings else NetworkPolicy()
    connector = GuardedConnector(policy, resolver, socket_factory)
    return aiohttp.ClientSession(connector=connector, trust_env=False, **session_kwargs)

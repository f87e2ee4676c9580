"""A DNS stub and a socket tripwire for network-guard tests, so no test needs real DNS or
connects anywhere but loopback.

`StubResolver` answers from a table (a name may answer differently on successive lookups, to
model DNS rebinding). `SocketTripwire` is an aiohttp `socket_factory`: it records every
address aiohttp tries to open a socket to and refuses to open any, so a test can assert that
a forbidden address was never even attempted.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult


class StubResolver(AbstractResolver):
    def __init__(self, table: dict[str, Sequence[str] | list[Sequence[str]]]) -> None:
        # name -> addresses, or name -> [addresses of 1st lookup, of 2nd lookup, ...]
        self.table = table
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = self.table.get(host)
        if answers is None:
            raise OSError(socket.EAI_NONAME, f"stub DNS: no such name {host}")
        nth = sum(1 for h in self.lookups if h == host)
        self.lookups.append(host)
        if answers and not isinstance(answers[0], str):
            addresses = answers[min(nth, len(answers) - 1)]
        else:
            addresses = answers
        return [
            {
                "hostname": host,
                "host": str(addr),
                "port": port,
                "family": socket.AF_INET6 if ":" in str(addr) else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for addr in addresses
        ]

    async def close(self) -> None:
        return None


class SocketTripwire:
    """A socket factory that never opens a socket: records the target and fails the connect."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, addr_info: Any) -> socket.socket:
        sockaddr = addr_info[4]
        self.attempts.append(str(sockaddr[0]))
        raise OSError(f"tripwire: refusing to open a socket to {sockaddr[0]}")

"""Where a project's own provider instances may connect: no SSRF through a custom base URL.

Operators' instances (the configuration file) go where the operator says. Instances a project adds
through the admin API are checked twice: their base URL when they are saved, and every address their
host name resolves to when a connection is made (so DNS that changes after the check gains nothing).
Link-local and cloud metadata addresses are never allowed; loopback and private ranges only when the
service allows them (``UPSTREAM_ALLOW_PRIVATE``, on by default outside production).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from api_connector.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def address_refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA or address.is_link_local:
        return "link-local and metadata addresses are never reachable"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "that address is not a valid upstream"
    if not allow_private and (address.is_loopback or address.is_private):
        return "private and loopback addresses are not allowed for project providers"
    return None


def check_base_url(url: str, allow_private: bool) -> None:
    """Refuse a base URL whose host is a forbidden literal address (names are checked at connect time)."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = address_refusal(address, allow_private)
    if reason:
        raise ValidationFailed(f"base_url: {reason}", param="base_url")


class ForbiddenAddress(OSError):
    """A host name resolved only to addresses the policy forbids (an OSError, as resolvers raise)."""


class GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then drops every address the policy forbids."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if address_refusal(ipaddress.ip_address(r["host"]), self._allow_private) is None]
        if not allowed:
            raise ForbiddenAddress(f"refusing to connect to {host}: it resolves only to forbidden addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def resolver_kwargs(guarded: bool, allow_private: bool) -> dict[str, Any]:
    return {"resolver": GuardedResolver(allow_private)} if guarded else {}

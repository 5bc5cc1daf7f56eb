"""Where a project's own provider instances and the alert webhooks may connect: no SSRF through a URL.

Operators' instances (the configuration file) go where the operator says. Instances a project adds
through the admin API are checked twice: their base URL when they are saved, and every address their
host name resolves to when a connection is made (so DNS that changes after the check gains nothing).
Link-local and cloud metadata addresses are never allowed; loopback and private ranges only when the
service allows them (``UPSTREAM_ALLOW_PRIVATE``, on by default outside production). Literal addresses in
a URL are held to the same policy as resolved ones (``transport.pool`` checks both), and no redirect is
ever followed, so an answer cannot send a call past the check.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

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
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed IPv6 literal: not a URL this service can call
        raise ValidationFailed("base_url: not a valid URL", param="base_url") from None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = address_refusal(address, allow_private)
    if reason:
        raise ValidationFailed(f"base_url: {reason}", param="base_url")


class ForbiddenAddress(OSError):
    """A host resolved only to addresses the policy forbids (raised by ``transport.pool`` for guarded
    pools, before any connection; an OSError, as resolvers raise)."""

"""Answers that take several upstream requests in one attempt (a job created, then polled): the loop
every capability with a stepped wire shares.

The wire stays a pure codec: it says what to send first and, from each 2xx answer, the next request
(``wire.base.Follow``) or the finished result. Here each request goes through the attempt's one
``Exchange`` (each gets the credential, the provider's headers and what is left of the deadline), and
polls wait their interval within the call's deadline (or, for a call without one, the instance's
total timeout). A follow that declares ``longest`` is a poll with a bounded backoff: each repeated
poll waits half as long again as the one before, up to ``longest``. When the job cannot finish before
the deadline the attempt ends with ``UpstreamTimeout`` at once, nothing left waiting in the gateway
(the job itself may still run upstream: the deadline is the caller's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

from api_connector.capabilities.base import wire_failure
from api_connector.core.exchange import Inbound
from api_connector.errors import UpstreamProtocolError, UpstreamTimeout
from api_connector.routing.catalog import Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.routing.exchange import Exchange
from api_connector.wire.base import Follow, VendorFailed, Wire

R = TypeVar("R")
_GROWTH = 1.5  # each repeated poll waits this much longer than the one before (up to ``longest``)


async def run_steps(
    exchange: Exchange, wire: Wire, first: Follow, advance: Callable[[Inbound], R | Follow]
) -> R | Follow:
    """Send ``first`` and each request ``advance`` leads to, until it gives a result or a stream to open."""
    target = exchange.target
    remaining = exchange.remaining()
    ends = time.monotonic() + (remaining if remaining is not None else target.instance.timeouts.total)
    step: R | Follow = first
    previous: Follow | None = None
    repeats = 0  # polls of the same request in a row
    while isinstance(step, Follow) and step.translator is None:
        repeats = repeats + 1 if previous is not None and _same(previous, step) else 0
        await _pause(_interval(step, repeats), step.wait, ends, target)
        answer = await exchange.send(step.outbound)
        if not 200 <= answer.status < 300:
            raise wire_failure(answer, wire, target)
        previous, step = step, _advance(advance, answer, target)
    return step


def _same(before: Follow, now: Follow) -> bool:
    return (before.outbound.method, before.outbound.path, before.outbound.url) == (
        now.outbound.method, now.outbound.path, now.outbound.url,
    )


def _interval(step: Follow, repeats: int) -> float:
    if step.longest is None:
        return step.wait
    return min(step.wait * _GROWTH**repeats, step.longest)


async def _pause(wait: float, shortest: float, ends: float, target: Target) -> None:
    """Wait before the next request, or give up if the job cannot finish before the deadline."""
    left = ends - time.monotonic()
    if left <= shortest or left <= 0:
        raise UpstreamTimeout("the job upstream did not finish before the call's deadline",
                              provider=target.instance.name)
    if wait > shortest:  # a grown wait never skips the last poll the deadline leaves room for
        wait = max(shortest, min(wait, left - shortest))
    if wait > 0:
        await asyncio.sleep(wait)


def _advance(advance: Callable[[Inbound], R | Follow], answer: Inbound, target: Target) -> R | Follow:
    try:
        return advance(answer)
    except VendorFailed as failed:
        raise classify_vendor_error(failed.error, provider=target.instance.name) from None
    except (ValidationError, ValueError):
        raise UpstreamProtocolError(
            "upstream answered with a body that is not the job's", provider=target.instance.name
        ) from None

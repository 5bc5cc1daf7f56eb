"""Lua script calls on the shared Redis, sent as prepared bytes: the request path's Redis round trip.

redis-py packs every command argument by argument in Python and runs each reply through several
layers; for the one round trip a governed request makes (its admission script, and the batched
settlements) that was the largest share of the service's CPU on Redis-backed state. Here the calls of a
batch are written as one RESP buffer on a connection of the client's own pool and their replies read
in order with the client's parser (hiredis when installed), so connections, authentication, timeouts
and reply decoding stay the client's. A script missing from the server (flushed, restarted) is loaded
again and the calls that found it missing are sent once more. Used by the stores of ``storage`` only
(``limit_scripts``); an error reply comes back as the client's ``ResponseError``, which they translate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ResponseError

if TYPE_CHECKING:
    from redis.asyncio import Redis

Call = tuple[Sequence[str], Sequence[str | bytes]]  # keys, arguments


def _bulk(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%b\r\n" % (len(data), data)


class ScriptRunner:
    """One registered Lua script, called for many (keys, arguments) at once."""

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._script: Any = redis.register_script(source)
        self._head = _bulk("EVALSHA") + _bulk(self._script.sha)

    def _packed(self, calls: Sequence[Call]) -> bytes:
        parts = []
        for keys, args in calls:
            parts.append(b"*%d\r\n" % (3 + len(keys) + len(args)))
            parts.append(self._head)
            parts.append(_bulk(str(len(keys))))
            parts.extend(map(_bulk, keys))
            parts.extend(map(_bulk, args))
        return b"".join(parts)

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Each call's reply, in order; a call the script refused comes back as its ResponseError."""
        replies = await self._send(calls)
        missing = [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._redis.script_load(self._script.script)
            again = await self._send([calls[index] for index in missing])
            for index, reply in zip(missing, again, strict=True):
                replies[index] = reply
        return replies

    async def _send(self, calls: Sequence[Call]) -> list[Any]:
        pool = self._redis.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(self._packed(calls), check_health=False)
            replies: list[Any] = []
            for _ in calls:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as refused:  # an error reply: read in full, the next one follows
                    replies.append(refused)
            return replies
        except BaseException:
            # Replies left unread (cancelled, timed out, dropped) would answer the next user's command.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

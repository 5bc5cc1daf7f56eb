"""A mitmproxy addon (loaded by ``mitmdump -s``) that breaks traffic on request, at the network level.

It runs inside mitmproxy's own Python, not the project's: it imports nothing of api-connector. A
provider instance asks for a fault with its static header ``x-chaos``:

    reset                 close the connection instead of forwarding the request
    delay=MS              hold the request MS milliseconds before forwarding it
    truncate-body         forward the answer cut to half its length (a body that is not whole JSON)
    truncate-stream=N     forward the first N bytes of a streamed answer, then end it early
    status=429:2          answer 429 with ``Retry-After: 2`` (an HTTP-date when written ``:date+2``)
    ...;times=K           only the first K requests with this exact header value, then pass through

Every request seen is appended to the file named by the ``chaos_log`` option (one line: the header).
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time

from mitmproxy import ctx, http


class Chaos:
    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("chaos_log", str, "", "append one line per request to this file")

    def _mode(self, flow: http.HTTPFlow) -> str:
        header = flow.request.headers.get("x-chaos", "")
        mode, _, limit = header.partition(";times=")
        if limit:
            with self._lock:
                count = self._seen.get(header, 0) + 1
                self._seen[header] = count
            if count > int(limit):
                return ""
        return mode

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if ctx.options.chaos_log:
            with open(ctx.options.chaos_log, "a", encoding="utf-8") as log:
                log.write(flow.request.headers.get("x-chaos", "-") + "\n")
        flow.metadata["chaos"] = self._mode(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        mode = flow.metadata.get("chaos", "")
        if mode.startswith("delay="):
            await asyncio.sleep(int(mode.split("=", 1)[1]) / 1000)
        elif mode == "reset":
            flow.kill()
        elif mode.startswith("status="):
            flow.response = _status(mode.split("=", 1)[1])

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        mode = flow.metadata.get("chaos", "")
        if not mode.startswith("truncate-stream="):
            return
        budget = [int(mode.split("=", 1)[1])]

        def cut(data: bytes) -> bytes:
            keep = data[: max(0, budget[0])]
            budget[0] -= len(data)
            return keep

        flow.response.stream = cut
        # The cut answer still ends cleanly on the wire; the connection is not reused after it.
        flow.response.headers["connection"] = "close"

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get("chaos") == "truncate-body" and flow.response.content:
            flow.response.content = flow.response.content[: len(flow.response.content) // 2]


def _status(spec: str) -> http.Response:
    code, _, after = spec.partition(":")
    headers = {"content-type": "application/json"}
    if after.startswith("date+"):
        headers["retry-after"] = email.utils.formatdate(time.time() + float(after[5:]), usegmt=True)
    elif after:
        headers["retry-after"] = after
    body = b'{"error": {"message": "chaos says ' + code.encode() + b'", "type": "rate_limit_error"}}'
    return http.Response.make(int(code), body, headers)


addons = [Chaos()]

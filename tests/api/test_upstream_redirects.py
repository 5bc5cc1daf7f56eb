"""An upstream's redirect is never followed: for a typed capability it is a failure, for the generic
request API it is the upstream's answer, passed on as it is.

Before, a chat call whose upstream answered 302 reached the caller as 200 with a body that was not a
chat completion. The redirect's target (here a listener that counts its hits) must never be contacted.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from aiohttp import web
from tests.gateway import run_gateway
from tests.threaded_app import threaded_app


def test_a_redirect_is_a_protocol_error_for_chat_and_an_answer_for_generic_requests(tmp_path: Path) -> None:
    hits: list[str] = []

    def target(app: web.Application) -> None:
        async def hit(request: web.Request) -> web.Response:
            hits.append(request.path)
            return web.json_response({"stolen": True})

        app.router.add_route("*", "/{tail:.*}", hit)

    with threaded_app(target) as elsewhere:

        def redirecting(app: web.Application) -> None:
            async def redirect(request: web.Request) -> web.Response:
                raise web.HTTPFound(f"{elsewhere}/collect")

            app.router.add_route("*", "/{tail:.*}", redirect)

        with threaded_app(redirecting) as upstream:
            config = {"providers": {"moved": {"type": "openai_compatible", "base_url": f"{upstream}/v1"}}}
            with run_gateway(tmp_path, config) as gateway, httpx.Client(headers=gateway.headers(), timeout=10) as http:
                chat = {"model": "moved/m", "messages": [{"role": "user", "content": "hi"}]}
                answer = http.post(gateway.v1 + "/chat/completions", json=chat)
                assert answer.status_code == 502
                assert answer.json()["error"]["code"] == "protocol_error"
                assert "redirect" in answer.json()["error"]["message"]

                generic = {"provider": "moved", "method": "GET", "endpoint": "/models"}
                envelope = http.post(gateway.v1 + "/requests", json=generic).json()
                assert envelope["success"] and envelope["metadata"]["status"] == 302

    assert hits == []  # nothing ever reached where the redirects pointed

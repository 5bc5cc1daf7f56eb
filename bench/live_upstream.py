"""The live transcription row's upstream: Deepgram's ``/v1/listen`` WebSocket, answering from recordings.

`python live_upstream.py PORT` answers every binary frame (a batch of audio) with one ``Results``
message: the recorded final result (``fixtures/deepgram_live.json``) marked interim, its ``start`` and
``duration`` the audio heard so far. ``Finalize`` and ``CloseStream`` get the recorded final result;
``CloseStream`` then the documented ``Metadata`` with the seconds received, and a 1000 close. ``GET
/v1/projects`` (the service's health probe of a Deepgram key) answers an empty list.
"""

import sys
from pathlib import Path

import orjson
import uvloop
from aiohttp import WSMsgType, web

FIXTURE = orjson.loads((Path(__file__).parent / "fixtures" / "deepgram_live.json").read_bytes())
RESULTS, METADATA = FIXTURE["Results"], FIXTURE["Metadata"]
_WIDTH = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}


async def listen(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoclose=False, max_msg_size=0)
    await ws.prepare(request)
    rate = int(request.query.get("sample_rate", "16000")) * _WIDTH.get(request.query.get("encoding", ""), 2)
    heard = 0
    async for message in ws:
        if message.type is WSMsgType.BINARY:
            start = heard / rate
            heard += len(message.data)
            interim = {**RESULTS, "start": round(start, 3), "duration": round(heard / rate - start, 3)}
            await ws.send_str(orjson.dumps({**interim, "is_final": False, "speech_final": False}).decode())
        elif message.type is WSMsgType.TEXT:
            kind = orjson.loads(message.data).get("type")
            if kind in ("Finalize", "CloseStream"):
                await ws.send_str(orjson.dumps({**RESULTS, "from_finalize": kind == "Finalize"}).decode())
            if kind == "CloseStream":
                end = {**METADATA, "duration": round(heard / rate, 3), "channels": 1}
                await ws.send_str(orjson.dumps(end).decode())
                await ws.close(code=1000)
    return ws


async def projects(_: web.Request) -> web.Response:
    return web.json_response({"projects": []})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/v1/listen", listen)
    app.router.add_get("/v1/projects", projects)
    return app


if __name__ == "__main__":
    web.run_app(
        make_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
        shutdown_timeout=1,
    )

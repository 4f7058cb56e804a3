"""The fast path (event posts answered without an ASGI task) on a real uvicorn server in-process,
so the test can look at what the requests leave behind in the interpreter."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path

import uvicorn

from mediacollect_emulator import Store, create_api_app
from mediacollect_emulator.__main__ import _http_protocol
from tests.helpers import START, free_port, raw_post, run_async

EVENTS = 300


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if line)
    headers = {name.lower(): value for name, value in headers.items()}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split()[1]), headers


async def view(port: int) -> list[int]:
    """A player on one keep-alive connection: sessionStart, then EVENTS pings and plays."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw_post("/api/v1/sessions", START))
    status, headers = await answer(reader)
    assert status == 201
    statuses = []
    ts, events = START["playerTime"]["ts"], headers["location"] + "/events"
    for step in range(EVENTS):
        ts += 1000
        body = {"playerTime": {"playhead": float(step), "ts": ts}, "eventType": "play" if step == 0 else "ping"}
        writer.write(raw_post(events, body))
        statuses.append((await answer(reader))[0])
    writer.close()
    await writer.wait_closed()
    return statuses


def test_event_posts_leave_no_reference_cycles(tmp_path: Path) -> None:
    """Each cycle a request leaves waits for the garbage collector, and under load its passes
    over thousands of them stopped every answer for 20-40 ms (bench/emulator_load.py)."""
    store = Store(tmp_path / "emulator.sqlite3")
    app = create_api_app(store)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=_http_protocol(app),
                                           log_config=None, access_log=False, lifespan="on"))

    async def scenario() -> list[int]:
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds goes to gc.garbage instead
        try:
            statuses = await view(port)
            gc.collect()
            left = Counter(type(thing).__qualname__ for thing in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            server.should_exit = True
            await serving
        assert sum(left.values()) < EVENTS // 10, left.most_common(5)  # not one (or more) per request
        return statuses

    try:
        statuses = run_async(scenario)
    finally:
        store.close()
    assert statuses == [204] * EVENTS  # every event accepted

"""``mediacollect-emulator`` / ``python -m mediacollect_emulator``: the API and the demo page.

Two servers in one process, on two ports of the same host, so the page and the API are
different origins and every run exercises CORS as a real deployment does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn

from ._collection import DroppedByFault
from ._guard import Access, is_loopback, normalise_origin, url_host
from ._sessions import ServerRules
from ._store import COMMIT_INTERVAL, Store
from .api import EmulatorApp, create_api_app
from .site import create_site_app

log = logging.getLogger("mediacollect_emulator")

DEFAULT_API_PORT = 8001
DEFAULT_SITE_PORT = 8000
GC_THRESHOLD = 20_000  # allocations between young-generation collections (CPython's default: 700)
KEEP_ALIVE_S = 75  # players ping every 10 s: keep their connections open between pings
# Connections waiting to be accepted: 10,000 players arriving within seconds overflow uvicorn's
# 2,048 (the kernel caps it at net.core.somaxconn, 4,096 on current Linux).
LISTEN_BACKLOG = 16_384
MAX_COMMIT_INTERVAL_MS = 1000  # a longer group commit would hold every answer that long


def default_site_root() -> Path:
    cwd = Path.cwd()
    if (cwd / "index.html").is_file():
        return cwd
    return Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mediacollect-emulator",
        description="A local Media Collection API (Adobe Streaming Media Collection API) that stores "
        "what it receives in SQLite, and serves the mediacollect demo page on a second port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="API port (default: %(default)s)")
    parser.add_argument("--site-port", type=int, default=DEFAULT_SITE_PORT,
                        help="demo page port (default: %(default)s)")
    parser.add_argument("--no-site", action="store_true", help="serve the API only")
    parser.add_argument("--no-isolation", action="store_true",
                        help="serve the pages without COOP/COEP, like a host that cannot send them: the page "
                             "then runs Python on the main thread (the fallback)")
    parser.add_argument("--allow-endpoint", action="append", default=[], metavar="ORIGIN",
                        help="another origin the demo pages may send to (their Content-Security-Policy's "
                             "connect-src names only this emulator's API otherwise); repeatable")
    parser.add_argument("--site-root", type=Path, default=None,
                        help="folder with index.html and the built vendor/ (default: this checkout)")
    parser.add_argument("--db", default=None,
                        help="SQLite file (default: a new temporary file, removed on exit)")
    parser.add_argument("--commit-interval", type=float, default=COMMIT_INTERVAL * 1000, metavar="MS",
                        help="under load, the longest a request waits for the group commit its answer waits "
                             "on; when idle the commit is immediate (default: %(default)g)")
    parser.add_argument("--no-expose-location", action="store_true",
                        help="omit Access-Control-Expose-Headers: Location (to test clients' failure path)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a further name the servers answer to (the Host header; default: the bound address "
                             "and localhost), e.g. the machine's name when binding beyond loopback; repeatable")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="a further origin (such as http://127.0.0.1:5173) whose pages may call the "
                             "state-changing /_emulator endpoints (faults, close, reset); repeatable")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="info logs one line per request (default: %(default)s)")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="request log lines as key=value text or as JSON objects (default: %(default)s)")
    rules = parser.add_argument_group("server rules (emulated seconds; spec §4.9, §4.10)")
    rules.add_argument("--time-scale", type=float, default=1.0,
                       help="emulated seconds per real second: 600 makes the 10-minute timeout pass in 1 s")
    rules.add_argument("--idle-timeout", type=float, default=600.0,
                       help="close a session after this long without events (default: %(default)g)")
    rules.add_argument("--stall-timeout", type=float, default=1800.0,
                       help="close a session after this long without playhead movement (default: %(default)g)")
    rules.add_argument("--reorder-window", type=float, default=5.0,
                       help="seconds events wait to be sorted by ts (default: %(default)g)")
    rules.add_argument("--reorder-events", type=int, default=10,
                       help="...or until this many are waiting (default: %(default)d)")
    parser.add_argument("--forward", metavar="URL", default=None,
                        help="validate and record, then pass every request on to this Media Collection API "
                             "(e.g. https://<namespace>.hb-api.omtrdc.net); clients get its answers")
    args = parser.parse_args(argv)
    try:
        args.rules = ServerRules(args.idle_timeout, args.stall_timeout, args.reorder_window, args.reorder_events,
                                 args.time_scale)
    except ValueError as err:
        parser.error(str(err))
    if not 0 <= args.commit_interval <= MAX_COMMIT_INTERVAL_MS:
        parser.error(f"--commit-interval must be between 0 and {MAX_COMMIT_INTERVAL_MS} ms")
    if args.forward is not None and not args.forward.startswith(("http://", "https://")):
        parser.error("--forward must be an http:// or https:// URL")
    for flag in ("allow_origin", "allow_endpoint"):
        try:
            setattr(args, flag, [normalise_origin(value) for value in getattr(args, flag)])
        except ValueError as err:
            parser.error(f"--{flag.replace('_', '-')}: {err}")
    for port in (args.api_port, args.site_port):
        if not 0 <= port <= 65535:
            parser.error("ports must be from 0 to 65535")
    args.host = args.host.strip("[]")
    return args


class RequestLogFormatter(logging.Formatter):
    """One line per request: ``key=value`` pairs, or a JSON object with ``--log-format json``."""

    def __init__(self, as_json: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is None:
            if self.as_json:
                return json.dumps({"time": self.formatTime(record), "level": record.levelname,
                                   "logger": record.name, "message": record.getMessage()})
            return super().format(record)
        fields = {"time": self.formatTime(record), **{k: v for k, v in fields.items() if v is not None}}
        if self.as_json:
            return json.dumps(fields)
        return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())


def _logfmt(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


def page_url(host: str, site_port: int, api_port: int) -> str:
    url = f"http://{url_host(host)}:{site_port}/"
    if api_port != DEFAULT_API_PORT or host != "127.0.0.1":
        url += "?endpoint=" + quote(f"http://{url_host(host)}:{api_port}", safe="")
    return url


def exposure_warning(host: str, access: Access) -> str | None:
    """What to tell someone who binds beyond loopback (None when they do not)."""
    if is_loopback(host):
        return None
    return (f"binding {host}: other machines can reach the emulator, read every stored session and reset it; "
            f"it answers only to the names {', '.join(sorted(access.hosts))} (add more with --allow-host)")


def access_for(args: argparse.Namespace) -> Access:
    ports = [args.api_port] + ([] if args.no_site else [args.site_port])
    return Access.for_binding(args.host, ports, extra_hosts=args.allow_host, extra_origins=args.allow_origin)


class _NotFaultDrops(logging.Filter):
    """uvicorn logs an app's exception with its traceback; a scripted drop is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedByFault))


def _tune_gc() -> None:
    """What start-up created lives as long as the process: ``gc.freeze`` takes it out of every
    collection, and a larger first threshold makes collections rarer. Under load a collection
    walking every object stalls all answers for milliseconds (bench/emulator_load.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


async def serve(args: argparse.Namespace, store: Store) -> int:
    log_config = {"version": 1, "disable_existing_loggers": False}
    access = access_for(args)
    warning = exposure_warning(args.host, access)
    if warning is not None:
        log.warning(warning)
    api = create_api_app(store, expose_location=not args.no_expose_location, rules=args.rules, forward=args.forward,
                         access=access)
    _tune_gc()
    servers = [
        uvicorn.Server(uvicorn.Config(
            api, host=args.host, port=args.api_port, log_level=args.log_level, access_log=False,
            log_config=log_config, timeout_graceful_shutdown=2, proxy_headers=False, http=_http_protocol(api),
            timeout_keep_alive=KEEP_ALIVE_S, backlog=LISTEN_BACKLOG,
        ))
    ]
    if not args.no_site:
        site_root = (args.site_root or default_site_root()).resolve()
        servers.append(uvicorn.Server(uvicorn.Config(
            create_site_app(site_root, isolated=not args.no_isolation, access=access,
                            endpoints=(f"http://{url_host(args.host)}:{args.api_port}", *args.allow_endpoint)),
            host=args.host, port=args.site_port,
            log_level=args.log_level, access_log=False, log_config=log_config, timeout_graceful_shutdown=2,
        )))

    async def announce_and_watch() -> None:
        while not all(s.started for s in servers):
            if any(s.should_exit for s in servers):
                break
            await asyncio.sleep(0.05)
        else:
            print(f"API:       http://{url_host(args.host)}:{args.api_port}/api/v1", flush=True)
            print(f"Inspect:   http://{url_host(args.host)}:{args.api_port}/  (JSON under /_emulator/sessions)",
                  flush=True)
            if not args.no_site:
                print(f"Demo page: {page_url(args.host, args.site_port, args.api_port)}", flush=True)
        # One server catching SIGINT/SIGTERM stops the other too.
        while not any(s.should_exit for s in servers):
            await asyncio.sleep(0.1)
        for s in servers:
            s.should_exit = True

    watcher = asyncio.ensure_future(announce_and_watch())
    await asyncio.gather(*(s.serve() for s in servers), return_exceptions=True)
    watcher.cancel()
    return 0 if all(s.started for s in servers) else 1


def _http_protocol(api: EmulatorApp) -> Any:
    """The fast path for event posts when httptools is installed (it is with the emulator extra)."""
    try:
        from ._fastpath import fast_protocol
    except ImportError:
        return "auto"
    return fast_protocol(api.collection)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (it is with the emulator extra): about twice the requests per second."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(RequestLogFormatter(args.log_format == "json"))
    handler.addFilter(_NotFaultDrops())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    temporary = args.db is None
    if temporary:
        fd, db_path = tempfile.mkstemp(prefix="mediacollect-emulator-", suffix=".sqlite3")
        os.close(fd)
    else:
        db_path = args.db
    store = Store(db_path, writer_process=True, commit_interval=args.commit_interval / 1000)
    # uvicorn handles SIGTERM (graceful shutdown) and re-raises it afterwards to the handler
    # that was there before; this one lets the process close the store and exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            code = runner.run(serve(args, store))
    except KeyboardInterrupt:
        code = 0
    finally:
        store.close()
        if temporary:
            for suffix in ("", "-wal", "-shm"):
                Path(db_path + suffix).unlink(missing_ok=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

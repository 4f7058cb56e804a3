"""``mediacollect-emulator`` / ``python -m mediacollect_emulator``: the API and the demo page.

Two servers in one process, on two ports of the same host, so the page and the API are
different origins and every run exercises CORS as a real deployment does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import uvicorn

from ._store import Store
from .api import create_api_app
from .site import create_site_app

DEFAULT_API_PORT = 8001
DEFAULT_SITE_PORT = 8000


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
    parser.add_argument("--site-root", type=Path, default=None,
                        help="folder with index.html and the built vendor/ (default: this checkout)")
    parser.add_argument("--db", default=None,
                        help="SQLite file (default: a new temporary file, removed on exit)")
    parser.add_argument("--no-expose-location", action="store_true",
                        help="omit Access-Control-Expose-Headers: Location (to test clients' failure path)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def page_url(host: str, site_port: int, api_port: int) -> str:
    url = f"http://{host}:{site_port}/"
    if api_port != DEFAULT_API_PORT or host != "127.0.0.1":
        url += "?endpoint=" + quote(f"http://{host}:{api_port}", safe="")
    return url


async def serve(args: argparse.Namespace, store: Store) -> int:
    log_config = {"version": 1, "disable_existing_loggers": False}
    servers = [
        uvicorn.Server(uvicorn.Config(
            create_api_app(store, expose_location=not args.no_expose_location),
            host=args.host, port=args.api_port, log_level=args.log_level, access_log=False,
            log_config=log_config, timeout_graceful_shutdown=2,
        ))
    ]
    if not args.no_site:
        site_root = (args.site_root or default_site_root()).resolve()
        servers.append(uvicorn.Server(uvicorn.Config(
            create_site_app(site_root), host=args.host, port=args.site_port, log_level=args.log_level,
            access_log=False, log_config=log_config, timeout_graceful_shutdown=2,
        )))

    async def announce_and_watch() -> None:
        while not all(s.started for s in servers):
            if any(s.should_exit for s in servers):
                break
            await asyncio.sleep(0.05)
        else:
            print(f"API:       http://{args.host}:{args.api_port}/api/v1  (received: /_emulator/sessions)",
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    temporary = args.db is None
    if temporary:
        fd, db_path = tempfile.mkstemp(prefix="mediacollect-emulator-", suffix=".sqlite3")
        os.close(fd)
    else:
        db_path = args.db
    store = Store(db_path)
    # uvicorn handles SIGTERM (graceful shutdown) and re-raises it afterwards to the handler
    # that was there before; this one lets the process close the store and exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        code = asyncio.run(serve(args, store))
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

"""Which hosts a page contacts: every request the browser context makes, its workers' included.

A request to any host but the local ones is recorded and aborted before it leaves the machine, so
a test that finds one fails without having contacted anybody."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Request, Route

from tests.helpers import ROOT

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Matched by the browser side: only requests to other hosts wait on this process.
NOT_LOCAL = re.compile(r"^(?!(https?://(127\.0\.0\.1|localhost|\[::1\])([:/]|$)|blob:|data:|about:))")


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("blob", "data", "about") or parts.hostname in LOCAL_HOSTS


def foreign_requests(context: BrowserContext) -> list[str]:
    """Start recording; the list fills with the URL of every request to a non-local host."""
    foreign: list[str] = []

    def seen(request: Request) -> None:
        if not is_local(request.url):
            foreign.append(request.url)

    def guard(route: Route) -> None:
        if is_local(route.request.url):
            route.fallback()
        else:
            foreign.append(route.request.url)
            route.abort("blockedbyclient")

    context.on("request", seen)
    context.route(NOT_LOCAL, guard)
    return foreign


def site_copy(target: Path, edit: Callable[[Path], None] = lambda site: None) -> Path:
    """The repository's site (pages, config, media, vendor/ as hard links), changed by ``edit``."""
    target.mkdir()
    for name in ("index.html", "main.py", "pyscript.toml"):
        shutil.copy2(ROOT / name, target / name)
    for folder in ("examples", "media"):
        shutil.copytree(ROOT / folder, target / folder)
    shutil.copytree(ROOT / "vendor", target / "vendor", copy_function=os.link)
    edit(target)
    return target


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))

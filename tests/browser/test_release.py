"""The release artifacts on someone else's site, by the README's "Add it to your site" steps.

A temporary folder holds nothing but dist/'s artifacts. The steps' commands are read from the
README itself (a README that drifts from what works fails here), run as written with the web root
moved into the temporary folder, and the page is served by real servers: Debian's nginx with the
bundle's own server block, and `python3 -m http.server`, a host that sends no COOP/COEP (nor any
other header of ours): there the bundle's service worker isolates the page."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from mediacollect import __version__
from tests.browser.conftest import COLLECT_VIOLATIONS, press_play, wait_ready
from tests.browser.origins import foreign_requests
from tests.helpers import ROOT, Emulator, free_port, wait_for

NGINX = "/usr/sbin/nginx"
BUNDLE = f"mediacollect-site-{__version__}"
SECTION = re.search(r"^## Add it to your site\n(.*?)(?=^## )", (ROOT / "README.md").read_text(), re.S | re.M)
assert SECTION, "README.md has no section 'Add it to your site'"
STEPS = re.findall(r"^\d\. ", SECTION[1], re.M)


def readme_command(step: int) -> str:
    """The shell command in a step of the section (its code span)."""
    text = re.split(r"^\d\. ", SECTION[1], flags=re.M)[step]  # type: ignore[index]
    (command,) = re.findall(r"`([^`]*&&[^`]*)`", text)
    return str(command)


@dataclass
class Unpacked:
    artifacts: Path
    www: Path
    nginx_conf: Path


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory, emulator: Emulator) -> Unpacked:
    """Steps 1 and 2, in a folder that holds only the artifacts."""
    dist = ROOT / "dist"
    if not (dist / f"{BUNDLE}.tar.gz").is_file():
        pytest.fail("dist/ is not built: run `make dist` (the README's test command does it)")
    artifacts = tmp_path_factory.mktemp("artifacts")
    for artifact in dist.glob("mediacollect-*"):
        shutil.copy2(artifact, artifacts / artifact.name)
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(
        [f"mediacollect-{__version__}-py3-none-any.whl", f"mediacollect-{__version__}.tar.gz", f"{BUNDLE}.tar.gz"])
    www = artifacts / "www"
    www.mkdir()
    # 1. Unpack, copy site/ to the web root (the README's /srv/www is this test's www).
    command = readme_command(1).replace("/srv/www/", f"{www}/").replace("python3 ", f"{sys.executable} ")
    subprocess.run(command, shell=True, check=True, cwd=artifacts)
    # 2. Name the endpoint: every occurrence of the placeholder in example.html's <head>.
    placeholder = re.search(r"replace `(http://[^`]+)`", SECTION[1])[1]  # type: ignore[index]
    page = www / "example.html"
    assert page.read_text().count(placeholder) == 2  # the settings block and connect-src
    page.write_text(page.read_text().replace(placeholder, emulator.endpoint))
    return Unpacked(artifacts, www, artifacts / BUNDLE / "hosting" / "nginx.conf")


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port}: {log.read_text(errors='replace')}")


@contextmanager
def serving(command: list[str], port: int, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def nginx(unpacked: Unpacked, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Step 3 for nginx: the bundle's server block in conf.d/, its listen and root set, under a
    main config like Debian's (which includes conf.d/*.conf), run as a plain process."""
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: install Debian's nginx (`make test` does it)")
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    (prefix / "conf.d").mkdir()
    block = unpacked.nginx_conf.read_text()
    block, listens = re.subn(r"(?m)^(\s*)listen \d+;", rf"\g<1>listen 127.0.0.1:{port};", block)
    block, roots = re.subn(r"(?m)^(\s*)root [^;]+;", rf"\g<1>root {unpacked.www};", block)
    assert listens == roots == 1
    (prefix / "conf.d" / "mediacollect.conf").write_text(block)
    temp = "".join(f"{kind}_temp_path {prefix}/{kind};\n" for kind in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        + ("user root;\n" if os.getuid() == 0 else "")  # workers keep the user that can read tmp
        + "events { worker_connections 64; }\n"
        + "http {\ninclude /etc/nginx/mime.types;\ndefault_type application/octet-stream;\n"
        + f"access_log {prefix}/access.log;\nsendfile on;\n{temp}include {prefix}/conf.d/*.conf;\n}}\n")
    subprocess.run([NGINX, "-t", "-q", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], check=True)
    with serving([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], port, prefix / "stderr.log") as url:
        yield url


@pytest.fixture(scope="module")
def no_headers(unpacked: Unpacked, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Step 3 for a host that can set no headers: a static server that sends none of ours."""
    port = free_port()
    log = tmp_path_factory.mktemp("http-server") / "log"
    with serving([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(unpacked.www),
                  str(port)], port, log) as url:
        yield url


def get(url: str, **headers: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


def example_url(site: str, emulator: Emulator) -> str:
    return f"{site}/example.html?{urlencode({'endpoint': emulator.endpoint})}"


def track_a_play(page: Page, emulator: Emulator) -> None:
    """Step 4: ready, play, and the session the panel shows is the one the API received."""
    wait_ready(page)
    press_play(page)
    page.wait_for_selector(".request[data-event-type='sessionStart'][data-status='201']")
    page.wait_for_selector(".request[data-event-type='play'][data-status='204']")
    sid = page.text_content("#session-id")
    sessions = wait_for(lambda: [s for s in emulator.sessions() if s["sid"] == sid])
    assert [e["event_type"] for e in sessions[0]["events"]][:1] == ["sessionStart"]


def test_the_readme_section_has_at_most_five_steps() -> None:
    assert 1 <= len(STEPS) <= 5


def test_nginx_serves_the_bundle_with_the_headers_it_needs(nginx: str, unpacked: Unpacked) -> None:
    isolation = {"cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "credentialless"}
    status, page = get(f"{nginx}/example.html")
    assert status == 200 and page["content-type"].startswith("text/html")
    assert isolation.items() <= page.items() and page["cache-control"] == "no-cache"
    status, again = get(f"{nginx}/example.html", **{"If-None-Match": page["etag"]})
    assert status == 304  # pages revalidate
    (pyodide,) = (unpacked.www / "vendor").glob("pyodide-*")
    status, wasm = get(f"{nginx}/vendor/{pyodide.name}/pyodide.asm.wasm", **{"Accept-Encoding": "gzip"})
    assert status == 200 and wasm["content-type"] == "application/wasm" and wasm["content-encoding"] == "gzip"
    assert wasm["cache-control"] == "public, max-age=31536000, immutable" and isolation.items() <= wasm.items()
    assert wasm["vary"] == "Accept-Encoding"
    status, module = get(f"{nginx}/vendor/{pyodide.name}/pyodide.mjs")
    assert module["content-type"] == "text/javascript" and "content-encoding" not in module  # asked for none
    status, toml = get(f"{nginx}/pyscript.toml")
    assert toml["content-type"] == "application/toml" and toml["cache-control"] == "no-cache"
    (wheel,) = (unpacked.www / "vendor" / "wheels").glob("mediacollect-*.whl")
    status, served = get(f"{nginx}/vendor/wheels/{wheel.name}")
    assert served["content-type"] == "application/zip" and served["cache-control"] == "no-cache"
    # The players the adaptive-stream pages load ship in the bundle too, revalidated (unversioned names).
    for player in ("hls.min.js", "dash.all.min.js", "video.min.js"):
        status, script = get(f"{nginx}/vendor/players/{player}", **{"Accept-Encoding": "gzip"})
        assert status == 200 and script["content-type"] == "text/javascript", player
        assert script["content-encoding"] == "gzip" and script["cache-control"] == "no-cache", player


def test_nginx_recipe_tracks_a_play(context: BrowserContext, page: Page, nginx: str, emulator: Emulator) -> None:
    """... under the example page's own Content-Security-Policy, with no violation."""
    foreign = foreign_requests(context)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(COLLECT_VIOLATIONS)
    response = page.goto(example_url(nginx, emulator))
    assert response is not None and "content-security-policy" not in response.headers  # the page's <meta>
    assert "'unsafe-inline'" not in (page.get_attribute("meta[http-equiv=Content-Security-Policy]", "content") or "x")
    track_a_play(page, emulator)
    assert page.evaluate("globalThis.__violations") == []
    assert [line for line in console if "Content Security Policy" in line] == []
    assert page.evaluate("crossOriginIsolated") is True
    assert page.evaluate("navigator.serviceWorker.controller") is None  # the headers did it: no worker
    assert foreign == []


LONG_TASKS = """
globalThis.__longTasks = [];
new PerformanceObserver((list) => { for (const t of list.getEntries()) __longTasks.push(t.duration); })
  .observe({type: "longtask", buffered: true});
"""


def test_without_headers_a_service_worker_isolates_the_page(context: BrowserContext, page: Page,
                                                            no_headers: str, emulator: Emulator) -> None:
    status, headers = get(f"{no_headers}/example.html")
    assert status == 200 and "cross-origin-opener-policy" not in headers  # the host sends none
    foreign = foreign_requests(context)
    documents: list[str] = []
    page.on("framenavigated", lambda frame: documents.append(frame.url) if frame == page.main_frame else None)
    page.add_init_script(LONG_TASKS + COLLECT_VIOLATIONS)
    page.goto(example_url(no_headers, emulator))
    track_a_play(page, emulator)
    assert page.evaluate("crossOriginIsolated") is True
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == f"{no_headers}/mediacollect-isolation.js"
    assert page.evaluate("document.querySelector('script[type=py]').hasAttribute('worker')") is True
    assert page.is_hidden("#tracker-error")  # no main-thread notice
    assert len(documents) == 2  # the cost: the first visit loads the page twice
    assert page.evaluate("globalThis.__violations") == []  # the service worker is allowed (worker-src 'self')
    # Python started in the worker: the page's thread never froze (a main-thread start freezes it
    # for seconds, its longest task 1.9-3.2 s; PyScript's own start has tasks of 50-180 ms).
    # 1 s: far from that, with room for a machine shared with other runs.
    tasks = page.evaluate("globalThis.__longTasks")
    assert max(tasks, default=0) < 1000, tasks
    # A later visit is isolated from its first load on.
    documents.clear()
    page.goto(example_url(no_headers, emulator))
    wait_ready(page)
    assert len(documents) == 1 and page.evaluate("crossOriginIsolated") is True
    assert foreign == []


def test_without_a_service_worker_the_page_falls_back_after_one_reload(browser: Browser, no_headers: str,
                                                                       emulator: Emulator) -> None:
    """Service workers refused (as in some private modes): one reload, no loop, and the page
    runs Python on the main thread with the notice, as on any host without the headers."""
    context = browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        foreign = foreign_requests(context)
        warnings: list[str] = []
        page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
        documents: list[str] = []
        page.on("framenavigated", lambda frame: documents.append(frame.url) if frame == page.main_frame else None)
        page.goto(example_url(no_headers, emulator))
        track_a_play(page, emulator)
        assert page.evaluate("crossOriginIsolated") is False
        assert page.evaluate("document.querySelector('script[type=py]').hasAttribute('worker')") is False
        assert "main thread" in (page.text_content("#tracker-error") or "")
        assert any(w.startswith("mediacollect isolation: ") for w in warnings), warnings
        assert len(documents) <= 2
        assert foreign == []
    finally:
        context.close()

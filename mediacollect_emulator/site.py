"""Serves the demo page and its self-hosted runtime, on its own origin.

The page runs Python in a PyScript worker, which needs cross-origin isolation (COOP
``same-origin`` + COEP ``credentialless``: ``require-corp`` would block cross-origin media; WebKit,
which has no ``credentialless``, gets ``require-corp``).
Pyodide refuses a ``.wasm`` not served as ``application/wasm`` and browsers refuse module
scripts with a wrong MIME type, so the types are set here rather than trusted to the OS.
The runtime's versioned folders (``vendor/pyodide-<v>/``, ``vendor/pyscript-<v>/``) are
immutable; everything else is revalidated on every load. Only the pages and what they load are
served (``SITE_FILES``: ``index.html``, ``main.py``, ``pyscript.toml``, ``examples/``, ``media/``,
``vendor/`` and the benchmark pages ``bench/pages/*.html``): never the repository's other
contents, and never a file or folder whose name starts with a dot (``.git``, ``.env``...). The server answers only to
the names in its :class:`Access` (a DNS-rebinding guard, as for the API).

Every answer carries the strictest Content-Security-Policy the pages work under (measured,
README "Content-Security-Policy"): scripts from this origin only, no inline script; PyScript
needs ``'unsafe-eval'`` (it compiles the hooks it hands to its worker with ``Function()``, and
``'unsafe-eval'`` also allows Pyodide's WebAssembly); its worker starts from a ``blob:`` URL, and
it reads inline Python through one; requests go to this origin and the API endpoints named,
nowhere else. The benchmark pages are
exempt: their baselines run inline code.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ._guard import Access, Guarded

for _type, _ext in (
    ("application/wasm", ".wasm"),
    ("text/javascript", ".mjs"),
    ("text/javascript", ".js"),
    ("text/css", ".css"),
    ("application/toml", ".toml"),
    ("text/x-python", ".py"),
    ("application/zip", ".whl"),
    ("application/zip", ".zip"),
    ("video/webm", ".webm"),
    ("text/vtt", ".vtt"),
    ("application/json", ".json"),
    # The adaptive test streams (tests/streams.py): playlists, manifests and segments.
    ("application/vnd.apple.mpegurl", ".m3u8"),
    ("video/mp2t", ".ts"),
    ("application/dash+xml", ".mpd"),
    ("video/iso.segment", ".m4s"),
    ("video/mp4", ".mp4"),
):
    mimetypes.add_type(_type, _ext)

_NAME = r"[\w-][\w.-]*"  # a file or folder name, never a dotfile
SITE_FILES = re.compile(
    rf"(index\.html|main\.py|pyscript\.toml|media/{_NAME}|examples/{_NAME}|bench/pages/{_NAME}\.html"
    rf"|vendor/{_NAME}(/{_NAME})*|streams/{_NAME}(/{_NAME})*)"
)
# The generated test streams live outside git, in build/streams/ (tests/streams.py), and are
# served as /streams/.
STREAMS_DIR = "build/streams/"
IMMUTABLE = re.compile(r"^vendor/(pyodide|pyscript)-[\d.]+/")
# Served precompressed when the build wrote a .br/.gz sibling (mediacollect's own files too).
PRECOMPRESSED = re.compile(r"^vendor/((pyodide|pyscript|mediacollect)-[\d.]+|wheels)/")
NO_POLICY = re.compile(r"^bench/pages/")

# (directive, sources); connect-src gets the API endpoints the site is created with.
CSP = (
    ("default-src", "'none'"),
    ("script-src", "'self' 'unsafe-eval'"),
    ("worker-src", "'self' blob:"),
    ("connect-src", "'self' blob:"),  # PyScript fetches inline Python (the examples') as a blob
    ("media-src", "'self' blob:"),  # adaptive players feed the element a MediaSource (a blob: URL)
    ("style-src", "'self'"),
    ("font-src", "data:"),  # Video.js's icon font, inlined in its stylesheet
    ("img-src", "data:"),  # the pages' empty favicon (no request for /favicon.ico)
    ("base-uri", "'none'"),
    ("form-action", "'none'"),
    ("frame-ancestors", "'none'"),
)


def content_security_policy(endpoints: tuple[str, ...] = ()) -> str:
    """The pages' policy, with ``endpoints`` (origins such as ``http://127.0.0.1:8001``) allowed
    as fetch targets."""
    return "; ".join(
        f"{name} {sources}{''.join(' ' + e for e in endpoints) if name == 'connect-src' else ''}"
        for name, sources in CSP
    )


def embedder_policy(user_agent: str) -> str:
    """The COEP value for a browser. ``credentialless`` lets a page embed cross-origin media
    without CORP headers, but WebKit (Safari, and every browser on iOS) does not implement it and
    would not isolate the page at all: WebKit gets ``require-corp``, which the site's own files
    meet (each carries CORP ``same-origin``). Chromium-based browsers name themselves Chrome/."""
    webkit = "AppleWebKit/" in user_agent and "Chrome/" not in user_agent and "Chromium/" not in user_agent
    return "require-corp" if webkit else "credentialless"


class SiteFiles(StaticFiles):
    """StaticFiles limited to the page's files, with isolation and cache headers. Without
    ``isolated`` the pages are served as a host that cannot send COOP/COEP would serve them
    (to see and test the main-thread fallback)."""

    def __init__(self, *, directory: Path, isolated: bool = True, endpoints: tuple[str, ...] = ()) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.isolated = isolated
        self.policy = content_security_policy(endpoints)

    async def get_response(self, path: str, scope: Scope) -> Response:
        path = path.replace("\\", "/").lstrip("/")
        if path in ("", "."):
            path = "index.html"
        if not SITE_FILES.fullmatch(path) or ".." in path.split("/"):
            raise HTTPException(status_code=404)
        if path.startswith("streams/"):
            path = STREAMS_DIR + path.removeprefix("streams/")
        response = self._precompressed(path, scope) or await super().get_response(path, scope)
        if self.isolated:
            response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
            response.headers["Cross-Origin-Embedder-Policy"] = embedder_policy(
                Headers(scope=scope).get("user-agent", ""))
            response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
            vary = response.headers.get("Vary")
            response.headers["Vary"] = f"{vary}, User-Agent" if vary else "User-Agent"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not NO_POLICY.match(path):
            response.headers["Content-Security-Policy"] = self.policy
        if IMMUTABLE.match(path):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response


    def _precompressed(self, path: str, scope: Scope) -> Response | None:
        """The ``.br``/``.gz`` sibling the build wrote for a runtime file, if the client takes it."""
        if not PRECOMPRESSED.match(path):
            return None
        accepted = {
            part.split(";")[0].strip().lower()
            for part in Headers(scope=scope).get("accept-encoding", "").split(",")
        }
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            if encoding not in accepted:
                continue
            full_path, stat = self.lookup_path(path + suffix)
            if stat is None:
                continue
            response = self.file_response(full_path, stat, scope)
            response.headers["Content-Type"] = mimetypes.guess_type(path)[0] or "application/octet-stream"
            response.headers["Content-Encoding"] = encoding
            response.headers["Vary"] = "Accept-Encoding"
            return response
        return None


def create_site_app(root: Path, *, isolated: bool = True, endpoints: tuple[str, ...] = (),
                    access: Access | None = None) -> Guarded:
    """The site; ``endpoints`` are the API origins its pages may send to (Content-Security-Policy),
    ``access`` the Host names it answers to."""
    if not (root / "index.html").is_file():
        raise FileNotFoundError(f"{root} has no index.html (pass --site-root)")
    files = SiteFiles(directory=root, isolated=isolated, endpoints=endpoints)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            await Response("method not allowed", status_code=405)(scope, receive, send)
            return
        await files(scope, receive, send)

    site = Starlette()
    site.mount("/", serve)
    return Guarded(site, access or Access.local(), state_changing_allowed=False)

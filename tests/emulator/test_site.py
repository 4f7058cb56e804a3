"""The page's origin: isolation headers, MIME types, cache policy, and nothing else served."""

from __future__ import annotations

import gzip
from pathlib import Path

import brotli
import pytest
from starlette.testclient import TestClient

from mediacollect_emulator import create_site_app
from tests.helpers import ROOT, compiled_stdlib

LOCAL = "http://127.0.0.1:8001"  # the Host the inspection API answers to (not TestClient's "testserver")


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "main.py").write_text("print('hi')\n")
    (tmp_path / "pyscript.toml").write_text('interpreter = "/x"\n')
    (tmp_path / "secret.txt").write_text("no")
    runtime = tmp_path / "vendor" / "pyodide-1.2.3"
    runtime.mkdir(parents=True)
    (runtime / "pyodide.asm.wasm").write_bytes(b"\0asm")
    (runtime / "pyodide.mjs").write_text("export {}")
    (runtime / "pyodide.asm.wasm.br").write_bytes(brotli.compress(b"\0asm"))
    (runtime / "pyodide.asm.wasm.gz").write_bytes(gzip.compress(b"\0asm"))
    (tmp_path / "vendor" / "wheels").mkdir()
    (tmp_path / "vendor" / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"PK")
    for dotted in ("media/.env", "vendor/.git/config", "examples/.hidden.html", "vendor/pyodide-1.2.3/.secret"):
        (tmp_path / dotted).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / dotted).write_text("no")
    return TestClient(create_site_app(tmp_path), base_url=LOCAL)


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/main.py", "text/x-python; charset=utf-8", "no-cache"),
        ("/pyscript.toml", "application/toml", "no-cache"),
        ("/vendor/pyodide-1.2.3/pyodide.asm.wasm", "application/wasm", "public, max-age=31536000, immutable"),
        ("/vendor/pyodide-1.2.3/pyodide.mjs", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
        ("/vendor/wheels/x-1-py3-none-any.whl", "application/zip", "no-cache"),
    ],
)
def test_served_files(client: TestClient, path: str, content_type: str, cache: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == cache
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "credentialless"


# Real user agents of each engine family (desktop and mobile builds).
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
EDGE = CHROME + " Edg/156.0.0.0"
ANDROID_WEBVIEW = ("Mozilla/5.0 (Linux; Android 14; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
                   "Chrome/156.0.0.0 Mobile Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.4 Safari/605.1.15")
IOS_CHROME = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "CriOS/156.0.0.0 Mobile/15E148 Safari/604.1")
WEBKITGTK = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/60.5 Safari/605.1.15"


@pytest.mark.parametrize(("user_agent", "policy"), [
    (CHROME, "credentialless"), (EDGE, "credentialless"), (ANDROID_WEBVIEW, "credentialless"),
    (FIREFOX, "credentialless"), ("", "credentialless"),
    (SAFARI, "require-corp"), (IOS_CHROME, "require-corp"), (WEBKITGTK, "require-corp"),
])
def test_webkit_which_has_no_credentialless_is_isolated_with_require_corp(
        client: TestClient, user_agent: str, policy: str) -> None:
    """Every file then still loads under require-corp: each carries CORP same-origin. Caches
    keep the answers apart by user agent."""
    for path in ("/", "/vendor/pyodide-1.2.3/pyodide.asm.wasm"):
        response = client.get(path, headers={"User-Agent": user_agent, "Accept-Encoding": "br"})
        assert response.headers["cross-origin-embedder-policy"] == policy
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert "User-Agent" in [v.strip() for v in response.headers["vary"].split(",")]


@pytest.mark.parametrize("path", ["/secret.txt", "/../etc/passwd", "/vendor/../secret.txt", "/.git/config",
                                  "/vendor/pyodide-1.2.3/missing.js"])
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/media/.env", "/vendor/.git/config", "/examples/.hidden.html",
                                  "/vendor/pyodide-1.2.3/.secret", "/media/%2Eenv"])
def test_dotfiles_are_never_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_site_answers_only_to_its_own_names(client: TestClient) -> None:
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200
    refused = client.get("/", headers={"Host": "rebound.example:8000"})
    assert refused.status_code == 403 and "DNS rebinding" in refused.json()["message"]


def test_revalidation_and_methods(client: TestClient) -> None:
    etag = client.get("/main.py").headers["etag"]
    assert client.get("/main.py", headers={"If-None-Match": etag}).status_code == 304
    assert client.post("/main.py").status_code == 405


def test_the_repository_page_references_the_vendored_versions() -> None:
    """index.html and pyscript.toml name the versions package.json pins (vendor paths are versioned)."""
    import json
    import tomllib
    import zipfile

    from mediacollect import __version__

    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    toml = tomllib.loads((ROOT / "pyscript.toml").read_text())
    # Installed by name; the interpreter is our module around the pinned Pyodide, which puts the
    # pure-Python wheels on sys.path as they are (zipimport).
    assert toml == {"interpreter": f"/vendor/mediacollect-{__version__}/pyodide.mjs",
                    "packages": ["mediacollect"], "packages_cache": "passthrough"}
    loader = (ROOT / "vendor" / f"mediacollect-{__version__}" / "pyodide.mjs").read_text()
    assert f'from "../pyodide-{pins["pyodide"]}/pyodide.mjs"' in loader and "@PYODIDE_VERSION@" not in loader
    # The compiled stdlib it starts from is the one beside Pyodide (the build keeps only that one).
    compiled = compiled_stdlib()
    assert compiled.parent.name == f"pyodide-{pins['pyodide']}" and f'const STDLIB = "{compiled.name}";' in loader
    for wheel in (ROOT / "vendor" / "wheels").glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
        sources = [name for name in names if name.endswith(".py")]
        assert sources, wheel
        for source in sources:  # bytecode where zipimport looks, and where an installed copy does
            folder, _, module = source.rpartition("/")
            assert f"{source}c" in names and f"{folder}/__pycache__/{module[:-3]}.cpython-314.pyc" in names, source
    pages = [ROOT / "index.html", *sorted((ROOT / "examples").glob("*.html"))]
    for page in pages:
        html = page.read_text()
        assert f"/vendor/pyscript-{pins['@pyscript/core']}/core.js" in html, page
        assert f"/vendor/mediacollect-{__version__}/shim.js" in html, page
        for marker in ("cdn.", "unpkg", "jsdelivr"):
            assert marker not in html and marker not in (ROOT / "pyscript.toml").read_text()
    # The wheels stay installable by name (`packages = [...]`) from the lock the build writes.
    lock = json.loads((ROOT / "vendor" / f"pyodide-{pins['pyodide']}" / "pyodide-lock.json").read_text())
    assert lock["packages"]["mediacollect"]["file_name"] == f"../wheels/mediacollect-{__version__}-py3-none-any.whl"
    assert set(lock["packages"]) == {"mediacollect"}


@pytest.mark.parametrize(
    ("accept", "encoding", "size"),
    [("gzip, deflate, br, zstd", "br", 8), ("gzip", "gzip", 24), ("identity", None, 4)],
)
def test_precompressed_runtime_files(client: TestClient, accept: str, encoding: str | None, size: int) -> None:
    response = client.get("/vendor/pyodide-1.2.3/pyodide.asm.wasm", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/wasm"
    assert response.headers.get("content-encoding") == encoding
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == b"\0asm"  # decoded by the client
    assert response.headers["content-length"] == str(size)  # what travelled: the precompressed file


def test_the_page_preloads_only_files_that_exist() -> None:
    import re

    html = (ROOT / "index.html").read_text()
    hrefs = re.findall(r'<link rel="(?:modulepreload|preload)" href="([^"]+)"', html)
    assert len(hrefs) >= 3
    sources = {
        "/vendor/pyscript-": ROOT / "node_modules" / "@pyscript" / "core" / "dist",
        "/vendor/pyodide-": ROOT / "node_modules" / "pyodide",
    }
    for href in hrefs:
        folder = next((path for prefix, path in sources.items() if href.startswith(prefix)), None)
        target = folder / href.rsplit("/", 1)[1] if folder else ROOT / href.lstrip("/")
        assert target.is_file(), href


def test_every_page_file_carries_the_policy_with_the_endpoints(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "bench" / "pages").mkdir(parents=True)
    (tmp_path / "bench" / "pages" / "baseline.html").write_text("<script>1</script>")
    client = TestClient(create_site_app(tmp_path, endpoints=("http://127.0.0.1:9", "https://api.example")),
                        base_url=LOCAL)
    policy = client.get("/").headers["content-security-policy"]
    assert "connect-src 'self' blob: http://127.0.0.1:9 https://api.example;" in policy
    assert policy.startswith("default-src 'none'; script-src 'self' 'unsafe-eval';")
    assert "'unsafe-inline'" not in policy
    assert "content-security-policy" not in client.get("/bench/pages/baseline.html").headers  # inline baselines


def test_the_cli_names_its_api_and_the_allowed_endpoints_in_the_policy(tmp_path: Path) -> None:
    import urllib.request

    from tests.helpers import start_emulator, stop_emulator

    emulator = start_emulator(tmp_path, "--allow-endpoint", "https://collect.example")
    try:
        with urllib.request.urlopen(emulator.site + "/", timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
    finally:
        stop_emulator(emulator)
    assert f"connect-src 'self' blob: {emulator.endpoint} https://collect.example;" in policy


@pytest.mark.parametrize("value", ["https://a.example; script-src *", "a.example", "https://a.example/path", "*"])
def test_an_allowed_endpoint_must_be_an_origin(value: str) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "mediacollect_emulator", "--allow-endpoint", value],
                            capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 2 and "--allow-endpoint:" in result.stderr and "is not an origin" in result.stderr


@pytest.mark.parametrize(("name", "content_type"), [
    ("vod/master.m3u8", "application/vnd.apple.mpegurl"), ("vod/r0/seg000.ts", "video/mp2t"),
    ("dash/manifest.mpd", "application/dash+xml"), ("dash/chunk-0-00001.m4s", "video/iso.segment"),
])
def test_the_generated_streams_are_served_from_build_as_streams(client: TestClient, tmp_path: Path, name: str,
                                                                content_type: str) -> None:
    """tests/streams.py writes build/streams/ (outside git); the pages load it as /streams/, with
    types the players accept, revalidated every time (a live playlist changes every second)."""
    target = tmp_path / "build" / "streams" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"#EXTM3U\n")
    response = client.get(f"/streams/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert client.get(f"/build/streams/{name}").status_code == 404  # the rest of build/ stays private
    assert client.get("/streams/../secret.txt").status_code == 404
    assert client.get("/streams/.hidden").status_code == 404


def test_player_pages_load_players_from_this_origin_only_and_media_through_blob_urls(client: TestClient) -> None:
    """An adaptive player hands the element a MediaSource (a blob: URL); Video.js's icon font is
    inlined in its stylesheet. Everything else stays as strict as before."""
    directives = dict(part.strip().split(" ", 1) for part in client.get("/").headers["content-security-policy"]
                      .split(";"))
    assert directives["media-src"] == "'self' blob:"
    assert directives["font-src"] == "data:"
    pins = __import__("json").loads((ROOT / "package.json").read_text())["dependencies"]
    assert all("^" not in pins[p] and "~" not in pins[p] for p in ("hls.js", "dashjs", "video.js"))  # exact pins
    for page, library in (("hls.html", "hls.min.js"), ("live.html", "hls.min.js"), ("dash.html", "dash.all.min.js"),
                          ("videojs.html", "video.min.js")):
        html = (ROOT / "examples" / page).read_text()
        assert f'<script src="/vendor/players/{library}"></script>' in html, page
        assert "/players.js\"></script>" in html, page
    for page in ("basic.html", "two-players.html", "track-from-python.html"):  # not loaded where unused
        assert "/vendor/players/" not in (ROOT / "examples" / page).read_text()
    assert "/vendor/players/" not in (ROOT / "index.html").read_text()

"""Build the release artifacts in dist/: the wheel and sdist, and the static site bundle.

    dist/mediacollect-<version>-py3-none-any.whl   the package (pure Python: the tracker core)
    dist/mediacollect-<version>.tar.gz             its sdist (with the emulator)
    dist/mediacollect-site-<version>.tar.gz        everything a web server needs, no Node, no clone:

        mediacollect-site-<version>/
          README.md                   the README's "Add it to your site", what is where
          site/                       copy its contents to the web root
            vendor/                   the runtime from vendor/ (versioned folders, .br/.gz
                                      beside each file; the wheels and their lock; players/:
                                      hls.js, dash.js and Video.js, for pages that use one)
            pyscript.toml, main.py    the config the pages name, and the Python they run
            mediacollect-isolation.js isolation through a service worker, for hosts without
                                      header control (a service worker's scope is its folder:
                                      it lives at the root)
            example.html, media/      a tracked <video> (the tests' contract: ?endpoint=,
                                      #tracker-status, #session-id, .request[...])
          hosting/nginx.conf          the server block for nginx

Run after tools/build_vendor.py (``make dist`` does both). The tarball is reproducible: sorted
entries, fixed times and owners.
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
DIST = ROOT / "dist"
HOSTING = ROOT / "examples" / "hosting"
RUNTIME = re.compile(r"^(pyodide|pyscript|mediacollect)-[\d.]+$|^(wheels|players)$")


def version() -> str:
    return (ROOT / "mediacollect" / "_version.py").read_text().split('"')[1]


def vendored(name: str) -> str:
    """The version of a runtime folder in vendor/ (exactly one: the build keeps one of each)."""
    (folder,) = VENDOR.glob(f"{name}-*")
    return folder.name.removeprefix(f"{name}-")


def readme_section(title: str) -> str:
    """One section of the project README, so the bundle says exactly what the README says."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n.*?(?=^## )", text, re.S | re.M)
    if not match:
        sys.exit(f"README.md has no section {title!r}")
    return match[0].strip() + "\n"


def python_artifacts() -> list[Path]:
    for old in DIST.glob("mediacollect-[0-9]*"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-t", "sdist", "-d", str(DIST)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return sorted(DIST.glob("mediacollect-[0-9]*"))


def stage(target: Path) -> None:
    """Lay the bundle out in ``target`` (removed first)."""
    if target.exists():
        shutil.rmtree(target)
    site = target / "site"
    (site / "media").mkdir(parents=True)
    for folder in sorted(VENDOR.iterdir()):
        if folder.is_dir() and RUNTIME.match(folder.name):
            shutil.copytree(folder, site / "vendor" / folder.name)
    shutil.copy2(ROOT / "pyscript.toml", site / "pyscript.toml")
    shutil.copy2(ROOT / "main.py", site / "main.py")
    shutil.copy2(ROOT / "mediacollect" / "isolation.js", site / "mediacollect-isolation.js")
    shutil.copy2(ROOT / "media" / "clip.webm", site / "media" / "clip.webm")
    page = ((HOSTING / "example.html").read_text()
            .replace("@MEDIACOLLECT_VERSION@", version()).replace("@PYSCRIPT_VERSION@", vendored("pyscript")))
    (site / "example.html").write_text(page)
    for path in [*re.findall(r'(?:src|href)="(/[^"]+)"', page), *re.findall(r'"(/vendor/[^"]+)"',
                                                                           (site / "pyscript.toml").read_text())]:
        if not (site / path.lstrip("/")).is_file():
            sys.exit(f"the bundle's example.html or pyscript.toml names {path}, which the bundle lacks")
    (target / "hosting").mkdir()
    shutil.copy2(HOSTING / "nginx.conf", target / "hosting" / "nginx.conf")
    (target / "README.md").write_text(
        f"# mediacollect-site {version()}\n\nThe browser runtime of mediacollect, ready for a web server: "
        "`site/` goes to the web root, `hosting/` holds the server configuration. "
        "Headers, caching and the Content-Security-Policy are explained in docs/hosting.md of the project.\n\n"
        + readme_section("Add it to your site")
    )


def pack(folder: Path, tarball: Path) -> None:
    """A reproducible .tar.gz of ``folder`` (sorted names, fixed times and owners)."""
    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in [folder, *sorted(folder.rglob("*"))]:
            tar.add(path, arcname=str(path.relative_to(folder.parent)), recursive=False, filter=normalise)
    tarball.write_bytes(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))


def main() -> int:
    if not (VENDOR / "wheels").is_dir():
        sys.exit("vendor/ is not built: run `make vendor` first")
    DIST.mkdir(exist_ok=True)
    artifacts = python_artifacts()
    name = f"mediacollect-site-{version()}"
    staging = ROOT / "build" / name
    stage(staging)
    tarball = DIST / f"{name}.tar.gz"
    pack(staging, tarball)
    shutil.rmtree(staging)
    for path in [*artifacts, tarball]:
        print(f"{path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

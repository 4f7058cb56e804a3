"""Assemble vendor/: the self-hosted browser runtime the page loads (no CDN, ever).

Inputs: node_modules/ (``npm ci`` of package.json: @pyscript/core, pyodide) and this package.
Output: the runtime in folders named by version, which a release never changes (a server may
let browsers keep them for a year; the emulator's site does so for pyodide-<version> and
pyscript-<version>, not for mediacollect-<version>, which is rebuilt under the same version
while developing), and vendor/wheels/, whose files keep their names when rebuilt (served to be
revalidated; the lock's sha256 says which build a page may load):

    vendor/pyodide-<version>/   pyodide.mjs, pyodide.asm.{mjs,wasm}, python_stdlib.zip,
                                pyodide-lock.json (trimmed: only our wheel, its sha256),
                                python_stdlib-<sha256>.zip: the stdlib with bytecode for what
                                pages import (tools/compile_stdlib.mjs; our interpreter's)
    vendor/pyscript-<version>/  @pyscript/core dist/ without source maps
    vendor/wheels/              the mediacollect wheel (pyscript.toml's packages)
    vendor/mediacollect-<version>/shim.js   the capture shim pages load at the top of <head>
    vendor/mediacollect-<version>/pyodide.mjs   pyscript.toml's interpreter: Pyodide, with the
                                pure-Python wheels of `packages` put on sys.path as they are,
                                started from a start-up snapshot kept in Cache Storage
    vendor/mediacollect-<version>/pyodide-no-snapshot.mjs   the same without the snapshot
    vendor/mediacollect-<version>/snapshot-worker.mjs       where pyodide.mjs makes the snapshot
    vendor/mediacollect-<version>/players.js   the adaptive players' adapter (pages with a player)
    vendor/players/             hls.js, dash.js and Video.js (script and stylesheet), as npm
                                ships them built; only the pages that use a player load them

The npm lock's sha256 values describe Pyodide's repacked wheels, not PyPI's files, and the
browser enforces them (Subresource Integrity), so the lock is rewritten with the real hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

from seal_runtime import seal

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "vendor"
NODE_MODULES = ROOT / "node_modules"
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"]
# The adaptive players (package.json pins each exactly): their built browser files, by package.
PLAYER_FILES = {
    "hls.js": ["dist/hls.min.js"],
    "dashjs": ["dist/modern/umd/dash.all.min.js"],
    "video.js": ["dist/video.min.js", "dist/video-js.min.css"],
}


def npm_version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        sys.exit(f"{manifest} is missing: run `npm ci` first")
    return str(json.loads(manifest.read_text())["version"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_pyodide(version: str) -> Path:
    src = NODE_MODULES / "pyodide"
    dest = VENDOR / f"pyodide-{version}"
    dest.mkdir(parents=True, exist_ok=True)
    for name in PYODIDE_FILES:
        shutil.copy2(src / name, dest / name)
    return dest


def copy_pyscript(version: str) -> Path:
    src = NODE_MODULES / "@pyscript" / "core" / "dist"
    dest = VENDOR / f"pyscript-{version}"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.map"))
    return dest


def copy_players() -> Path:
    dest = VENDOR / "players"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for package, files in PLAYER_FILES.items():
        npm_version(package)  # installed by npm ci, or say so
        for name in files:
            shutil.copy2(NODE_MODULES / package / name, dest / Path(name).name)
    return dest


def build_own_wheel(dest: Path) -> Path:
    for old in dest.glob("mediacollect-*.whl"):
        old.unlink()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dest),
         str(ROOT)],
        check=True,
    )
    return next(dest.glob("mediacollect-*.whl"))


def compile_stdlib(pyodide_dir: Path, wheels: list[Path]) -> str:
    """Write the compiled stdlib zip beside Pyodide (removing older ones) and return its name."""
    pyscript_package = NODE_MODULES / "@pyscript" / "core" / "src" / "stdlib" / "pyscript"
    if not (pyscript_package / "__init__.py").is_file():  # its imports decide what gets bytecode
        sys.exit(f"{pyscript_package} is missing: @pyscript/core's layout changed; update tools/build_vendor.py")
    result = subprocess.run(
        ["node", str(ROOT / "tools" / "compile_stdlib.mjs"), str(pyodide_dir), str(pyscript_package),
         *map(str, wheels)],
        check=True, stdout=subprocess.PIPE, text=True,
    )
    name = result.stdout.strip().splitlines()[-1]
    (pyodide_dir / name).chmod(0o644)
    for old in pyodide_dir.glob("python_stdlib-*.zip*"):
        if not old.name.startswith(name):
            old.unlink()
    return name


def copy_own_files(pyodide_version: str, stdlib: str) -> Path:
    """The capture shim and the interpreter modules (``pyodide.mjs``, which loads Pyodide from
    its own versioned folder, ``snapshot-worker.mjs``, where it makes the start-up snapshot, and
    ``pyodide-no-snapshot.mjs``, the same without the snapshot)."""
    version = (ROOT / "mediacollect" / "_version.py").read_text().split('"')[1]
    dest = VENDOR / f"mediacollect-{version}"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "mediacollect" / "shim.js", dest / "shim.js")
    for module in ("pyodide-no-snapshot.mjs", "snapshot-worker.mjs", "players.js"):
        shutil.copy2(ROOT / "mediacollect" / module, dest / module)
    loader = ((ROOT / "mediacollect" / "pyodide.mjs").read_text()
              .replace("@PYODIDE_VERSION@", pyodide_version).replace("@STDLIB_ZIP@", stdlib))
    if not (dest / "pyodide.mjs").exists() or (dest / "pyodide.mjs").read_text() != loader:
        (dest / "pyodide.mjs").write_text(loader)
    return dest


def write_lock(pyodide_dir: Path, wheels: list[Path]) -> None:
    """Keep the upstream ``info`` block and describe only the wheels we host."""
    upstream = json.loads((NODE_MODULES / "pyodide" / "pyodide-lock.json").read_text())
    packages = {}
    for wheel in wheels:
        dist, version = wheel.name.split("-")[:2]
        name = dist.replace("_", "-").lower()
        entry = dict(upstream["packages"].get(name, {}))
        entry.update({
            "name": name,
            "version": version,
            "file_name": f"../wheels/{wheel.name}",
            "install_dir": "site",
            "sha256": sha256(wheel),
            "package_type": "package",
            "imports": entry.get("imports") or [dist.lower()],
            "depends": entry.get("depends", []),
            "unvendored_tests": False,
            "shared_library": False,
        })
        packages[name] = entry
    lock = {"info": upstream["info"], "packages": packages}
    (pyodide_dir / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")


# Wheels and the compiled stdlib are stored zips (precompile_wheel, compile_stdlib): compressed
# as a whole, with a window that spans the whole file, they are smaller than deflated per entry.
COMPRESSIBLE = (".wasm", ".mjs", ".js", ".css", ".json", ".whl", ".zip")


def precompress(folder: Path) -> None:
    """Write .br and .gz beside each compressible runtime file, once (the folders are versioned
    and immutable), so the site can serve them without compressing per request."""
    import gzip

    import brotli

    for path in sorted(folder.rglob("*")):
        if path.suffix not in COMPRESSIBLE or not path.is_file():
            continue
        data = path.read_bytes()
        # The compiled stdlib (13 MB) repeats itself across modules far apart: a 16 MB window
        # finds more (2.58 MB instead of 2.63); on the wasm the default 4 MB does better.
        window = 24 if path.suffix == ".zip" else 22
        for suffix, compress in ((".br", partial(brotli.compress, quality=11, lgwin=window)),
                                 (".gz", partial(gzip.compress, compresslevel=9, mtime=0))):
            target = path.with_name(path.name + suffix)
            if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
                target.write_bytes(compress(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    pyodide_version = npm_version("pyodide")
    pyodide_dir = copy_pyodide(pyodide_version)
    pyscript_dir = copy_pyscript(npm_version("@pyscript/core"))
    seal(pyscript_dir, pyodide_dir)  # no download defaults: the page never reaches another host
    wheels_dir = VENDOR / "wheels"
    shutil.rmtree(wheels_dir, ignore_errors=True)  # only what pyscript.toml's packages name
    wheels_dir.mkdir(parents=True)
    wheels = [build_own_wheel(wheels_dir)]
    for wheel in wheels:  # bytecode for Pyodide's Python, so pages do not compile on every load
        subprocess.run(["node", str(ROOT / "tools" / "precompile_wheel.mjs"), str(wheel)], check=True)
    write_lock(pyodide_dir, wheels)
    stdlib = compile_stdlib(pyodide_dir, wheels)
    precompress(copy_own_files(pyodide_version, stdlib))
    players_dir = copy_players()
    precompress(wheels_dir)
    precompress(players_dir)
    precompress(pyodide_dir)
    precompress(pyscript_dir)
    size = sum(f.stat().st_size for f in VENDOR.rglob("*") if f.is_file() and f.suffix not in (".br", ".gz"))
    print(f"vendor/ ready: {pyodide_dir.name}, {pyscript_dir.name}, {players_dir.name}/, "
          f"{', '.join(w.name for w in wheels)} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seal the vendored runtime: no default in it may send the browser to another host.

PyScript and Pyodide fall back to downloads from a public CDN when a page does not say where
things are: PyScript's default interpreter for a config that did not load (or names none),
Pyodide's package base, MicroPython's package index. On a self-hosted page such a fallback is a
request to a third party that the site owner never chose, and it fails late and quietly (the
page says "loading" for ever). tools/build_vendor.py runs this on the copies in vendor/:

- every default interpreter URL becomes an error that names what is missing, and an interpreter
  module that does not load is an error naming it;
- a config that cannot be fetched is an error naming its path and HTTP status
  (``pyscript config /missing.toml: 404``) instead of an empty config, and PyScript's own
  config errors are thrown, not only drawn in its banner, so the page's panel shows them
  (the shim reports errors thrown from vendor/);
- Pyodide's package base defaults to its own folder, MicroPython's package index and its
  ``github:`` shortcut to the page's origin.

Each rule must match exactly as often as expected in the pinned versions: a PyScript or Pyodide
upgrade that moves the code fails the build here instead of shipping an unsealed runtime. After
the rules, no versioned download URL may remain (``check``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NO_INTERPRETER = (
    "pyscript: the config names no interpreter, and this self-hosted PyScript has no download default "
    "(set interpreter in the config to the vendored module)"
)


@dataclass(frozen=True)
class Rule:
    """A rewrite of the files a glob matches in a runtime folder, expected `count` times in all."""

    why: str
    files: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    count: int


def _checked_fetch(url: str, shown: str, read: str) -> str:
    """JS (no single quotes: some of it lands in a single-quoted string) fetching ``url`` and
    throwing ``pyscript config <shown>: <status>`` unless the answer is a 2xx."""
    return (f'fetch({url}).then(x=>{{if(!x.ok)throw new Error("pyscript config "+{shown}+": "+x.status);'
            f"return x.{read}()}},x=>{{throw new Error(\"pyscript config \"+{shown}+\": \"+x.message)}})")


PYSCRIPT_RULES = [
    Rule("default interpreter URLs (Pyodide, MicroPython; the page's copy and the worker's)",
         "core-*.js",
         re.compile(r'module:\((\w)="([^"]*)"\)=>`https?://[^`]*`'),
         r'module:(\1="\2")=>{throw new Error("' + NO_INTERPRETER + '")}', 4),
    # An interpreter module that does not load: named, and thrown from here (vendor/), so the
    # shim shows it wherever the module was meant to be.
    Rule("the interpreter's import names the interpreter (the page's copy and the worker's)",
         "core-*.js",
         re.compile(r"module:import\((\w)\),"),
         r'module:import(\1).catch(x=>{throw new Error("pyscript interpreter "+\1+": "+x.message)}),', 2),
    # polyscript's resolveConfig (the worker's copy and the page's): `fetch(url).json()` /
    # `.text()` without a status check, so a 404 page became an empty config (and the default
    # interpreter).
    Rule("polyscript's config fetch (JSON)",
         "core-*.js",
         re.compile(r'if\("json"===(\w)\)(\w)=\w+\((\w)\)\.json\(\);'),
         lambda m: (f'if("json"==={m[1]}){m[2]}='
                    + _checked_fetch(m[3], f"new URL({m[3]}).pathname", "json") + ";"), 2),
    Rule("polyscript's config fetch (TOML)",
         "core-*.js",
         re.compile(r'(const\{parser:\w\}=\w;\w=)\w+\((\w)\)\.text\(\)\.then\(async'),
         lambda m: (m[1] + _checked_fetch(m[2], f"new URL({m[2]}).pathname", "text")
                    + ".then(async"), 2),
    # PyScript's config on the page (scripts without `worker`): a clear message with the path.
    Rule("the page's config fetch",
         "core-*.js",
         re.compile(r'(\w)=(\w),\2=\(await \w+\(\1\)\.then\(\w+\)\)\.trim\(\)'),
         lambda m: f"{m[1]}={m[2]},{m[2]}=(await " + _checked_fetch(m[1], m[1], "text") + ").trim()",
         1),
    # A worker script whose config failed: polyscript kept the error and went on to start an
    # interpreter on the page instead (the default one, downloaded). Thrown, it stops there.
    Rule("a worker's failure is not followed by an interpreter on the page",
         "core-*.js",
         re.compile(r"(\.resolve\(\w+\.ready\)\)\}\}catch\((\w)\)\{)\w+=\2\}"),
         r"\1throw \2}", 1),
    # A worker that fails to start rejects the page's `ready` with the worker's error, whose
    # stack names only the worker's blob: URL. Rejected with an error made here (same message,
    # the worker's as its cause), the failure is one thrown from vendor/: the shim shows it.
    Rule("a worker's start-up error is rethrown from the page's copy of PyScript",
         "core-*.js",
         re.compile(r"(\w)\?\((\w)\.reject\((\w)\),(\w)\.onerror\("),
         r"\1?(\2.reject(new Error(\3.message,{cause:\3})),\4.onerror(", 1),
    # PyScript draws config errors in its banner and stops: thrown, they reach the page's panel.
    Rule("config errors are thrown",
         "core-*.js",
         re.compile(r'(\w)\(\)\.then\(\(\)=>\{if\((\w)\)return;'),
         r"\1().then(()=>{if(\2)throw \2;", 1),
    Rule("MicroPython's package index (mip), the page's copy and the worker's",
         "core-*.js",
         re.compile(r"_PACKAGE_INDEX=const\((\\?')https?://[^'\\]*(\\?')\)"),
         r"_PACKAGE_INDEX=const(\1\2)", 2),
    Rule("mip's github: shortcut, the page's copy and the worker's",
         "core-*.js",
         re.compile(r"A=(\\?')https?://[^'\\]*/(\\?')\+A\[0\]"),
         r"A=\1/\2+A[0]", 2),
]

PYODIDE_RULES = [
    Rule("Pyodide's package base (cdnUrl) defaults to its own folder",
         "pyodide.mjs",
         re.compile(r"(let (\w)=e\.indexURL\|\|await \w+\(\);.{0,80}?e\.cdnUrl=\w+\(e\.packageBaseUrl\?\?)`https?://[^`]*`\)"),
         r"\1\2)", 1),
]

# What a download default looks like: a host name, then a path with a version put into it (a
# link with a search term in its query, in a console message, is not one; nor is a URL made of
# nothing but a variable, which only parses an address).
VERSIONED_DOWNLOAD = re.compile(r"https?://[\w-]+(\.[\w-]+)+/[^\s\"'`?]*\$\{")


def apply(folder: Path, rules: list[Rule]) -> None:
    for rule in rules:
        # Some matches sit inside the worker's source, a single-quoted JS string.
        assert "'" not in (rule.replacement if isinstance(rule.replacement, str) else ""), rule.why
        files = sorted(folder.glob(rule.files))
        found = 0
        for path in files:
            text = path.read_text()
            sealed, n = rule.pattern.subn(rule.replacement, text)
            if n:
                path.write_text(sealed)
                found += n
        if found != rule.count:
            sys.exit(f"seal_runtime: {rule.why}: {found} matches in {folder.name}/{rule.files}, expected "
                     f"{rule.count}; the vendored version changed: update tools/seal_runtime.py")


def check(folder: Path) -> list[str]:
    """Versioned download URLs left in the runtime's scripts (none, once sealed)."""
    left = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".js", ".mjs") and path.is_file():
            left += [f"{path.name}: {m[0]}" for m in VERSIONED_DOWNLOAD.finditer(path.read_text())]
    return left


def seal(pyscript_dir: Path, pyodide_dir: Path) -> None:
    apply(pyscript_dir, PYSCRIPT_RULES)
    apply(pyodide_dir, PYODIDE_RULES)
    left = check(pyscript_dir) + check(pyodide_dir)
    if left:
        sys.exit("seal_runtime: download defaults left in the runtime:\n  " + "\n  ".join(left))

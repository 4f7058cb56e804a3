"""Who may use the inspection and control API (``/_emulator/*`` and the UI) and the demo page.

The collection API is open to every origin, as the real one is. What the emulator stores is
another matter: the developer's browser can reach a loopback server from any page it visits, so
binding to 127.0.0.1 protects nothing by itself. Three rules, checked before any route runs:

* **Host allow-list** (DNS rebinding: a page whose name an attacker points at 127.0.0.1 is
  same-origin with the emulator as far as the browser knows): the ``Host`` header must name the
  bound address, ``localhost`` (or the loopback address of the family bound), or a name added
  with ``--allow-host``. A request without ``Host`` (HTTP/1.0 tools) is not from a browser.
* **State-changing requests** (anything but GET, HEAD and OPTIONS) need
  ``Content-Type: application/json``, which a page of another site cannot send without a CORS
  preflight that the emulator never grants, and, when they carry an ``Origin`` (browsers always
  do on such requests), the emulator's own origin (its API or its demo site) or one allowed with
  ``--allow-origin``. A client without ``Origin`` (curl, urllib, the tests) is not a browser
  page: a no-cors request from a page cannot have a JSON content type.
* **No CORS** on these routes: other origins cannot read them (the UI is same-origin).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._decode import MAX_HEADER_BYTES, BadRequest, check_content_type, header_bytes

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port_ok(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and len(port) <= 5)


def _hostname(authority: str) -> str | None:
    """The name part of a Host header (no port, IPv6 without brackets, lower case), or None if malformed."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        end = authority.find("]")
        rest = authority[end + 1:]
        if end < 0 or (rest and not (rest.startswith(":") and _port_ok(rest[1:]))):
            return None
        return authority[1:end]
    name, colon, port = authority.partition(":")
    if colon and not _port_ok(port):
        return None
    return name.rstrip(".")


@dataclass(frozen=True)
class Access:
    """The names the emulator answers to, and the origins that may change its state."""

    hosts: frozenset[str]
    ports: frozenset[int] | None = None  # the emulator's own ports (None: any, for in-process use)
    origins: frozenset[str] = frozenset()  # further origins allowed with --allow-origin

    @classmethod
    def for_binding(cls, host: str, ports: Iterable[int] | None = None, *, extra_hosts: Iterable[str] = (),
                    extra_origins: Iterable[str] = ()) -> Access:
        bound = host.strip("[]").lower()
        names = {bound, "localhost", *(h.strip("[]").lower() for h in extra_hosts)}
        if bound in ("0.0.0.0", "::", ""):  # every address: the loopback ones are among them
            names |= {"127.0.0.1", "::1"}
        return cls(frozenset(names), None if ports is None else frozenset(ports),
                   frozenset(normalise_origin(o) for o in extra_origins))

    @classmethod
    def local(cls) -> Access:
        """Loopback names on any port: the default of an app built in-process."""
        return cls(frozenset(LOOPBACK_NAMES))

    def host_allowed(self, authority: str) -> bool:
        name = _hostname(authority)
        return name is not None and name in self.hosts

    def origin_allowed(self, origin: str) -> bool:
        try:
            if normalise_origin(origin) in self.origins:
                return True
            parts = urlsplit(origin)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # "null" (sandboxed frames, file: pages) and anything malformed
            return False
        return (parts.scheme == "http" and (parts.hostname or "") in self.hosts
                and (self.ports is None or port in self.ports) and parts.path in ("", "/"))


# What an origin may spell: a DNS name or IPv4 address, or an IPv6 address in brackets.
ORIGIN = re.compile(r"https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?")


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, without a trailing slash; raises ValueError if not an origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{origin!r} is not an origin such as http://127.0.0.1:8000")
    port = f":{parts.port}" if parts.port else ""
    normal = f"{parts.scheme}://{url_host(parts.hostname)}{port}"
    if not ORIGIN.fullmatch(normal):  # it also goes into the pages' Content-Security-Policy
        raise ValueError(f"{origin!r} is not an origin such as http://127.0.0.1:8000")
    return normal


def refusal(status: int, message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    payload = json.dumps({"message": message}).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())], payload


def check(access: Access, scope: dict[str, Any], *, state_changing_allowed: bool = True) -> BadRequest | None:
    """Why this request may not go on (a 4xx), or None."""
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    if header_bytes(raw_headers) > MAX_HEADER_BYTES:
        return BadRequest(f"request: headers larger than {MAX_HEADER_BYTES} bytes", 431)
    headers = {name: value for name, value in raw_headers}
    host = headers.get(b"host")
    if host is not None and not access.host_allowed(host.decode("latin-1")):
        return BadRequest(f"request: this server does not answer to the name {host.decode('latin-1')[:100]!r} "
                          "(a guard against DNS rebinding; start it with --allow-host NAME to allow one)", 403)
    if scope["method"] in SAFE_METHODS:
        return None
    if not state_changing_allowed:
        return BadRequest(f"{scope['method'][:10]} is not allowed here", 405)
    origin = headers.get(b"origin")
    if origin is not None and not access.origin_allowed(origin.decode("latin-1")):
        return BadRequest(f"request: the origin {origin.decode('latin-1')[:100]!r} may not change the emulator's "
                          "state (only its own pages may; start it with --allow-origin ORIGIN to allow one)", 403)
    try:
        check_content_type(headers.get(b"content-type", b"").decode("latin-1"))
    except BadRequest:
        return BadRequest("request: Content-Type must be application/json on a request that changes the "
                          "emulator's state (a page of another site cannot send that)", 415)
    return None


class Guarded:
    """An ASGI app behind :func:`check`: refused requests are answered here with a JSON message."""

    def __init__(self, app: Any, access: Access, *, state_changing_allowed: bool = True) -> None:
        self.app = app
        self.access = access
        self.state_changing_allowed = state_changing_allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refused = check(self.access, scope, state_changing_allowed=self.state_changing_allowed)
            if refused is not None:
                status, headers, payload = refusal(refused.status, refused.message)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
        await self.app(scope, receive, send)

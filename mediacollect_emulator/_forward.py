"""Forward mode: after validating and recording, pass each request on to a real endpoint.

An integrator runs ``mediacollect-emulator --forward https://<namespace>.hb-api.omtrdc.net`` and
points the page at the emulator: every request is checked against our rules, stored and shown
in the UI, and then sent upstream; the client gets the upstream's answer, so it behaves exactly
as it would against the real service. Our sid stands in for the upstream's one (the client keeps
talking to the emulator); the mapping is kept in the sessions table.

HTTP goes through urllib in a worker thread: a forwarded request is one blocking call, and this
keeps the emulator free of an HTTP-client dependency.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from mediacollect.rules import parse_location

FORWARD_TIMEOUT_S = 10.0


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer in time."""


class Upstream:
    def __init__(self, base_url: str, timeout: float = FORWARD_TIMEOUT_S) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("--forward must be an http(s) URL such as https://<namespace>.hb-api.omtrdc.net")
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/api/v1')}"
        self.timeout = timeout

    def _post(self, path: str, body: bytes) -> tuple[int, dict[str, str], str]:
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, \
                    response.read(65536).decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read(65536).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise UpstreamError(f"{self.base_url} unreachable ({getattr(err, 'reason', err)})") from None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], str]:
        return await asyncio.to_thread(self._post, path, body)

    def session_id(self, location: str) -> str | None:
        found = parse_location(location, self.base_url + "/api/v1/sessions")
        return None if found is None else found.sid

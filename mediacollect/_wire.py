"""The wire format: API events to JSON bodies, URLs, and the ``Location`` of a new session.

This is the only module that knows the JSON field names of a body (``playerTime``, ``params``,
``media.ad.podIndex``...). The validation tables in ``rules`` use the same names because they
judge wire bodies; nothing else in the package spells a field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ._events import AdBreakInfo, AdInfo, ApiEvent, ChapterInfo, EventType, Qoe, SessionParams
from ._lazy import lazy_dataclass

JSON_CONTENT_TYPE = "application/json"

# Adobe's reference player splits Location with ^/api/(.*)/sessions/(.*) (spec §1.5); we also
# take an absolute URL and drop a trailing slash, a query and a fragment.
_LOCATION_PATH = re.compile(r"^/api/(?P<version>[^/]+)/sessions/(?P<sid>[^/?#]+)/?$")


def sessions_url(api_base: str) -> str:
    return f"{api_base}/sessions"


@lazy_dataclass
class SessionLocation:
    """Where a session lives, from the ``Location`` of the ``201``."""

    version: str
    sid: str
    url: str  # absolute session URL; events go to url + "/events"

    @property
    def events_url(self) -> str:
        return self.url + "/events"


def parse_location(location: str | None, request_url: str) -> SessionLocation | None:
    """The session a ``201`` names, or None when ``Location`` is missing or not a session path.

    ``request_url`` resolves a relative Location, as a browser would.
    """
    from ._urls import urljoin, urlsplit, urlunsplit  # off the start-up path (_urls)

    if not location or not location.strip():
        return None
    absolute = urljoin(request_url, location.strip())
    parts = urlsplit(absolute)
    match = _LOCATION_PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
        return None
    path = parts.path.rstrip("/")
    return SessionLocation(
        version=match["version"],
        sid=match["sid"],
        url=urlunsplit((parts.scheme, parts.netloc, path, "", "")),
    )


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused because JSON has no such numbers."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# The two values a page fills in a body Python prepared for it (``template``): JSON strings in
# the template, each replaced, quotes included, by a number.
TS_SLOT = "@ts"
PLAYHEAD_SLOT = "@playhead"


def template(event: ApiEvent) -> str:
    """``event``'s body with its ``ts`` and playhead left as slots (TS_SLOT, PLAYHEAD_SLOT): what
    the shim sends on its own when the page goes away, knowing no field name. ValueError when a
    text of the body (metadata) reads like a slot: the page would fill that in too."""
    body = to_body(event)
    body["playerTime"] = {"playhead": PLAYHEAD_SLOT, "ts": TS_SLOT}
    text = encode(body).decode()
    if any(text.count(f'"{slot}"') != 1 for slot in (TS_SLOT, PLAYHEAD_SLOT)):
        raise ValueError(f"{event.type.value}: a value of the body reads like a slot of the template")
    return text


def to_body(event: ApiEvent) -> dict[str, Any]:
    """The JSON document for one API event (spec §1.4)."""
    body: dict[str, Any] = {
        "playerTime": {"playhead": _number(event.playhead, millisecond=True), "ts": event.ts},
        "eventType": event.type.value,
    }
    params: dict[str, Any] = {}
    if event.session_params is not None:
        params.update(_session_params(event.session_params))
    if event.ad_break is not None and event.type is EventType.AD_BREAK_START:
        params.update(_ad_break_params(event.ad_break, event.playhead))
    elif event.ad_break is not None and event.ad_break.friendly_name is not None:
        # Adobe's timelines repeat the break's name on each adStart (spec §2.2 notes).
        params["media.ad.podFriendlyName"] = event.ad_break.friendly_name
    if event.ad is not None:
        params.update(_ad_params(event.ad))
    if event.chapter is not None:
        params.update(_chapter_params(event.chapter))
    if event.state_name is not None:
        params["media.state.name"] = event.state_name
    if params:
        body["params"] = params
    if event.qoe is not None and not event.qoe.is_empty():
        body["qoeData"] = _qoe_data(event.qoe)
    if event.custom_metadata:
        body["customMetadata"] = dict(event.custom_metadata)
    if event.type is EventType.PING:
        body.pop("params", None)  # spec §2.2: a ping MUST NOT carry params
    return body


def to_millisecond(seconds: float) -> float:
    """Seconds rounded to the millisecond, halves up, computed exactly as the shim's JavaScript
    does for the events it sends on its own (``Math.floor(s * 1000 + 0.5) / 1000``: the same IEEE
    operations give the same double), so a body the shim fills equals the tracker's byte for byte."""
    return math.floor(seconds * 1000 + 0.5) / 1000


def _number(value: float, *, millisecond: bool = False) -> float | int:
    """Whole seconds as JSON integers (``12`` rather than ``12.0``); ``millisecond`` rounds (the
    playhead, so float noise such as 12.400000000000002 never reaches the wire)."""
    number = to_millisecond(float(value)) if millisecond else float(value)
    return int(number) if number.is_integer() else number


def _drop_none(pairs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in pairs.items() if value is not None}


def _session_params(p: SessionParams) -> dict[str, Any]:
    params = _drop_none(
        {
            "analytics.trackingServer": p.tracking_server,
            "analytics.reportSuite": p.report_suite,
            "visitor.marketingCloudOrgId": p.org_id,
            "media.id": p.media_id,
            "media.length": _number(p.length),
            "media.contentType": p.content_type,
            "media.playerName": p.player_name,
            "media.channel": p.channel,
            "media.name": p.media_name,
            "media.streamType": p.stream_type,
            "analytics.visitorId": p.visitor_id,
            "analytics.enableSSL": p.enable_ssl,
            "appInstallationId": p.app_installation_id,
            "media.sdkVersion": p.sdk_version,
            "media.resume": True if p.resume else None,
        }
    )
    params.update(p.standard_metadata)
    return params


def _ad_break_params(b: AdBreakInfo, playhead: float) -> dict[str, Any]:
    pod_second = playhead if b.pod_second is None else b.pod_second
    return _drop_none(
        {
            "media.ad.podIndex": b.pod_index,
            "media.ad.podSecond": _number(pod_second, millisecond=True),  # a content position, rounded as the playhead
            "media.ad.podFriendlyName": b.friendly_name,
        }
    )


def _ad_params(a: AdInfo) -> dict[str, Any]:
    return _drop_none(
        {
            "media.ad.id": a.id,
            "media.ad.length": _number(a.length),
            "media.ad.podPosition": a.pod_position,
            "media.ad.playerName": a.player_name,
            "media.ad.name": a.name,
            "media.ad.advertiser": a.advertiser,
            "media.ad.campaignId": a.campaign_id,
            "media.ad.creativeId": a.creative_id,
            "media.ad.siteId": a.site_id,
            "media.ad.creativeURL": a.creative_url,
            "media.ad.placementId": a.placement_id,
        }
    )


def _chapter_params(c: ChapterInfo) -> dict[str, Any]:
    return _drop_none(
        {
            "media.chapter.index": c.index,
            "media.chapter.offset": _number(c.offset),
            "media.chapter.length": _number(c.length),
            "media.chapter.friendlyName": c.friendly_name,
        }
    )


def _qoe_data(q: Qoe) -> dict[str, Any]:
    return _drop_none(
        {
            "media.qoe.bitrate": q.bitrate,
            "media.qoe.droppedFrames": q.dropped_frames,
            "media.qoe.framesPerSecond": q.frames_per_second,
            "media.qoe.timeToStart": q.time_to_start,
            "media.qoe.errorID": q.error_id,
            "media.qoe.errorSource": q.error_source,
        }
    )

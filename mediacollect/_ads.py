"""An ad schedule: the breaks a page plays in its own <video>, read from a small JSON shape.

The shape (documented in the README), as a page writes it in ``data-ad-schedule`` or passes
it to ``track(..., ads=...)``::

    {"breaks": [
      {"offset": 0, "name": "pre-roll", "ads": [
        {"id": "ad-1", "src": "/media/ad-1.webm", "length": 4, "name": "Sponsor",
         "advertiser": "ACME", "campaign_id": "c1", "creative_id": "k1", "site_id": "s1",
         "creative_url": "https://example.com/ad-1", "placement_id": "p1",
         "skip_after": 2, "metadata": {"key": "value"}}]},
      {"offset": 15, "name": "mid-roll", "ads": [...]}]}

A bare list of breaks is accepted too. ``offset`` is the content second the break sits at
(0: pre-roll); ``skip_after`` (seconds) makes the ad skippable after that much of it has played.
Errors name the field by its path, ``ads.breaks[1].ads[0].src``, and the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ._config import check_text
from ._errors import ConfigError
from ._events import AdBreakInfo, AdInfo
from ._lazy import lazy_dataclass
from .rules import is_number

_OPTIONAL_TEXT = ("name", "advertiser", "campaign_id", "creative_id", "site_id", "creative_url", "placement_id")
_AD_KEYS = frozenset({"id", "src", "length", "skip_after", "metadata", *_OPTIONAL_TEXT})
_BREAK_KEYS = frozenset({"offset", "name", "ads"})
MAX_BREAKS = 100
MAX_ADS_PER_BREAK = 50


@lazy_dataclass
class AdClip:
    """One ad of a break: the file the element plays, when it may be skipped, and what adStart
    says about it (``ad``, whose place in the break and player name are filled in at start)."""

    src: str
    ad: AdInfo
    skip_after: float | None = None

    def info(self, pod_position: int, player_name: str) -> AdInfo:
        return replace(self.ad, pod_position=pod_position, player_name=player_name)


@lazy_dataclass
class AdBreakPlan:
    offset: float  # content second; 0 is the pre-roll
    index: int  # media.ad.podIndex: the break's place in the schedule, 0 first (Adobe's timelines)
    ads: tuple[AdClip, ...]
    name: str | None = None

    def info(self) -> AdBreakInfo:
        return AdBreakInfo(pod_index=self.index, pod_second=self.offset, friendly_name=self.name)


def parse_schedule(data: object) -> tuple[AdBreakPlan, ...]:
    """The schedule as plans sorted by offset; ``ConfigError`` names the first wrong field."""
    if data is None:
        return ()
    if isinstance(data, Mapping):
        unknown = set(data) - {"breaks"}
        if unknown:
            raise ConfigError(f"ads.{sorted(unknown)[0]}", "is not a known key (only \"breaks\")")
        data = data.get("breaks", [])
        prefix = "ads.breaks"
    else:
        prefix = "ads"
    if not isinstance(data, list):
        raise ConfigError(prefix, "must be a list of ad breaks")
    if len(data) > MAX_BREAKS:
        raise ConfigError(prefix, f"has more than {MAX_BREAKS} breaks")
    parsed = [_parse_break(f"{prefix}[{i}]", entry) for i, entry in enumerate(data)]
    parsed.sort(key=lambda pair: pair[0])
    offsets = [offset for offset, _, _ in parsed]
    if len(set(offsets)) != len(offsets):
        raise ConfigError(prefix, "has two breaks at the same offset")
    return tuple(AdBreakPlan(offset, index, ads, name) for index, (offset, name, ads) in enumerate(parsed))


def _parse_break(path: str, entry: object) -> tuple[float, str | None, tuple[AdClip, ...]]:
    if not isinstance(entry, Mapping):
        raise ConfigError(path, "must be an object with \"offset\" and \"ads\"")
    _reject_unknown(path, entry, _BREAK_KEYS)
    offset = _seconds(f"{path}.offset", entry.get("offset"), required=True)
    assert offset is not None
    name = check_text(f"{path}.name", entry.get("name"))
    ads = entry.get("ads")
    if not isinstance(ads, list) or not ads:
        raise ConfigError(f"{path}.ads", "must be a non-empty list of ads")
    if len(ads) > MAX_ADS_PER_BREAK:
        raise ConfigError(f"{path}.ads", f"has more than {MAX_ADS_PER_BREAK} ads")
    return offset, name, tuple(_parse_ad(f"{path}.ads[{j}]", ad) for j, ad in enumerate(ads))


def _parse_ad(path: str, ad: object) -> AdClip:
    if not isinstance(ad, Mapping):
        raise ConfigError(path, "must be an object with \"id\", \"src\" and \"length\"")
    _reject_unknown(path, ad, _AD_KEYS)
    ad_id = check_text(f"{path}.id", ad.get("id"), required=True)
    src = check_text(f"{path}.src", ad.get("src"), required=True)
    length = _seconds(f"{path}.length", ad.get("length"), required=True)
    assert ad_id is not None and src is not None and length is not None
    if length <= 0:
        raise ConfigError(f"{path}.length", "must be more than 0 seconds")
    metadata = ad.get("metadata", {})
    if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ConfigError(f"{path}.metadata", "must be an object of strings")
    optional: dict[str, Any] = {key: check_text(f"{path}.{key}", ad.get(key)) for key in _OPTIONAL_TEXT}
    info = AdInfo(id=ad_id, length=length, pod_position=0, player_name="", custom_metadata=dict(metadata), **optional)
    return AdClip(src=src, ad=info, skip_after=_seconds(f"{path}.skip_after", ad.get("skip_after")))


def _reject_unknown(path: str, entry: Mapping[str, object], known: frozenset[str]) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", f"is not a known key (known: {', '.join(sorted(known))})")


def _seconds(path: str, value: object, *, required: bool = False) -> float | None:
    if value is None and not required:
        return None
    if not is_number(value) or value < 0:
        raise ConfigError(path, "must be a number of seconds, 0 or more")
    return float(value)

"""What a Media Collection API request may contain: the one source of truth, and the package's
public rules module (the emulator judges requests with it and imports nothing else of ours).

Rules of this file:

* It is the only place that says which ``params``, ``qoeData`` and ``customMetadata`` an event
  may carry and of which JSON type (spec §2.2, §3, §4.15). The tracker checks every body it
  builds against these tables before sending, and the emulator answers ``400`` from the same
  check, so the two can never disagree.
* It works on the decoded JSON document (dicts, lists, str, int, float, bool, None), because the
  emulator must judge whatever a client sent, not only what our tracker can build.
* Every problem names the event type, the field (as a dotted path into the body) and the rule
  broken, so an integrator reading a ``400`` or a ``ValidationError`` knows what to change.
* It imports nothing of delivery or of the page (tests/test_layers.py): loading it loads the
  core only. The session ``Location`` rule (spec §1.5) lives in ``_wire`` and is re-exported here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard

from ._lazy import lazy_dataclass
from ._wire import SessionLocation as SessionLocation
from ._wire import parse_location as parse_location

_Fail = Callable[[str, str], None]  # notes one problem: (field, rule)

# JSON types, as JSON Schema names them.
STRING: Final = "string"
BOOLEAN: Final = "boolean"
INTEGER: Final = "integer"
NUMBER: Final = "number"
OBJECT: Final = "object"
ARRAY: Final = "array"


# Top-level members of every body (spec §1.4; the server schema has additionalProperties: false).
ENVELOPE_MEMBERS: Final = frozenset({"playerTime", "eventType", "params", "qoeData", "customMetadata"})

# sessionStart params (spec §3.1–3.4). Keys marked "[EV26] only" in the spec are left out on
# purpose: the live schema rejects unknown keys, and those were never confirmed against it.
SESSION_START_REQUIRED: Final[Mapping[str, str]] = {
    "analytics.trackingServer": STRING,
    "analytics.reportSuite": STRING,
    "visitor.marketingCloudOrgId": STRING,
    "media.id": STRING,
    "media.length": NUMBER,
    "media.contentType": STRING,
    "media.playerName": STRING,
    "media.channel": STRING,
}
SESSION_START_OPTIONAL: Final[Mapping[str, str]] = {
    "analytics.enableSSL": BOOLEAN,
    "analytics.visitorId": STRING,
    "analytics.aid": STRING,
    "analytics.optOutServerSideForwarding": BOOLEAN,
    "analytics.optOutShare": BOOLEAN,
    "visitor.marketingCloudUserId": STRING,
    "visitor.aamLocationHint": INTEGER,
    "visitor.customerIDs": OBJECT,
    "appInstallationId": STRING,
    "media.name": STRING,
    "media.streamType": STRING,
    "media.resume": BOOLEAN,
    "media.sdkVersion": STRING,
    "media.publisher": STRING,
    "media.libraryVersion": STRING,
    "media.downloaded": BOOLEAN,
    # Standard content metadata (§3.4): all strings, even the digit-valued ones.
    "media.streamFormat": STRING,
    "media.show": STRING,
    "media.season": STRING,
    "media.episode": STRING,
    "media.assetId": STRING,
    "media.genre": STRING,
    "media.firstAirDate": STRING,
    "media.firstDigitalDate": STRING,
    "media.rating": STRING,
    "media.originator": STRING,
    "media.network": STRING,
    "media.showType": STRING,
    "media.adLoad": STRING,
    "media.pass.mvpd": STRING,
    "media.pass.auth": STRING,
    "media.dayPart": STRING,
    "media.feed": STRING,
}

# The standard metadata keys an integrator may set per video (a subset of the optional params).
STANDARD_METADATA_KEYS: Final = frozenset(
    key
    for key, kind in SESSION_START_OPTIONAL.items()
    if kind == STRING and key.startswith("media.") and key not in {"media.name", "media.sdkVersion",
                                                                   "media.libraryVersion", "media.streamType"}
)

QOE_KEYS: Final[Mapping[str, str]] = {
    "media.qoe.bitrate": INTEGER,
    "media.qoe.droppedFrames": INTEGER,
    "media.qoe.framesPerSecond": INTEGER,
    "media.qoe.timeToStart": INTEGER,
    "media.qoe.errorID": STRING,
    "media.qoe.errorSource": STRING,
}
ERROR_SOURCES: Final = ("player", "external")

CUSTOM_METADATA_KEY: Final = re.compile(r"^[a-zA-Z0-9_.]+$")  # matched as a whole (fullmatch)
CUSTOM_METADATA_KEY_RULE: Final = f"key must match {CUSTOM_METADATA_KEY.pattern}"
CUSTOM_METADATA_EVENTS: Final = frozenset({"sessionStart", "adStart", "chapterStart"})

STATE_NAME_KEY: Final = "media.state.name"
MAX_STATES_PER_SESSION: Final = 10  # spec §4.7


@lazy_dataclass
class EventRule:
    """Which params one event type requires and allows (spec §2.2)."""

    required: Mapping[str, str]
    optional: Mapping[str, str]
    params_allowed: bool = True


_NONE: Final[Mapping[str, str]] = {}

EVENT_RULES: Final[Mapping[str, EventRule]] = {
    "sessionStart": EventRule(SESSION_START_REQUIRED, SESSION_START_OPTIONAL),
    "play": EventRule(_NONE, _NONE),
    "ping": EventRule(_NONE, _NONE, params_allowed=False),  # "MUST NOT include params"
    "pauseStart": EventRule(_NONE, _NONE),
    "bufferStart": EventRule(_NONE, _NONE),
    "bitrateChange": EventRule(_NONE, _NONE),
    "error": EventRule(_NONE, _NONE),  # details travel in qoeData (spec §3.9, our decision)
    "adBreakStart": EventRule(
        {"media.ad.podIndex": INTEGER, "media.ad.podSecond": NUMBER},
        {"media.ad.podFriendlyName": STRING},
    ),
    "adStart": EventRule(
        {
            "media.ad.id": STRING,
            "media.ad.length": NUMBER,
            "media.ad.podPosition": INTEGER,
            "media.ad.playerName": STRING,
        },
        {
            "media.ad.name": STRING,
            "media.ad.advertiser": STRING,
            "media.ad.campaignId": STRING,
            "media.ad.creativeId": STRING,
            "media.ad.siteId": STRING,
            "media.ad.creativeURL": STRING,
            "media.ad.placementId": STRING,
            # Adobe's own timelines put the break name on adStart too (spec §2.2 notes).
            "media.ad.podFriendlyName": STRING,
        },
    ),
    "adComplete": EventRule(_NONE, _NONE),
    "adSkip": EventRule(_NONE, _NONE),
    "adBreakComplete": EventRule(_NONE, _NONE),
    "chapterStart": EventRule(
        {"media.chapter.index": INTEGER, "media.chapter.offset": NUMBER, "media.chapter.length": NUMBER},
        {"media.chapter.friendlyName": STRING},
    ),
    "chapterComplete": EventRule(_NONE, _NONE),
    "chapterSkip": EventRule(_NONE, _NONE),
    "stateStart": EventRule({STATE_NAME_KEY: STRING}, _NONE),
    "stateEnd": EventRule({STATE_NAME_KEY: STRING}, _NONE),
    "statesUpdate": EventRule(_NONE, {"statesStart": ARRAY, "statesEnd": ARRAY}),
    "sessionComplete": EventRule(_NONE, _NONE),
    "sessionEnd": EventRule(_NONE, _NONE),
}

# The rules beyond "this key has that JSON type": ``validate_body`` checks them and the emulator's
# JSON Schemas are generated from them, so neither restates the other.
PLAYHEAD_MINIMUM: Final = 0  # seconds
TS_RANGE: Final = (0, 2**63 - 1)  # UTC ms in a signed 64-bit integer
EXCLUSIVE_MINIMUMS: Final[Mapping[str, float]] = {"media.length": 0}  # params that must be above a bound
CUSTOMER_IDS_KEY: Final = "visitor.customerIDs"  # {"<id type>": {"id": "<string>", "authState": 0|1|2}}
AUTH_STATES: Final = (0, 1, 2)
STATE_LISTS: Final = ("statesStart", "statesEnd")  # lists of {STATE_NAME_KEY: "<name>"}
ANY_OF_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {"statesUpdate": STATE_LISTS}  # at least one of them
VALUE_ENUMS: Final[Mapping[str, tuple[str, ...]]] = {"media.qoe.errorSource": ERROR_SOURCES}

EVENT_TYPES: Final = tuple(EVENT_RULES)  # every known eventType, in the spec's order

# Events whose params object must be present (spec §1.4 "params ... required content on ...").
PARAMS_REQUIRED: Final = frozenset(
    {"sessionStart", "adBreakStart", "adStart", "chapterStart", "stateStart", "stateEnd", "statesUpdate"}
)


@lazy_dataclass
class Problem:
    """One broken rule: which event, which field of the body, which rule."""

    event_type: str
    field: str
    rule: str

    @property
    def message(self) -> str:
        return f"{self.event_type}: {self.field} {self.rule}"


def is_number(value: object, *, infinite: bool = False) -> TypeGuard[int | float]:
    """A JSON number: an int or a float, never a bool, never NaN, and finite unless ``infinite``
    (a live element's duration). The one such check in the package."""
    if isinstance(value, float):
        return not math.isnan(value) if infinite else math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def json_type_matches(value: object, kind: str) -> bool:
    """JSON Schema type check on a decoded value (bool is not a number in JSON)."""
    if kind == STRING:
        return isinstance(value, str)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return is_number(value)
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == ARRAY:
        return isinstance(value, list)
    raise ValueError(f"unknown JSON type {kind!r}")


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def validate_body(body: object, *, expected_event_type: str | None = None) -> list[Problem]:
    """Every rule one request body breaks, in a stable order (empty list: the body is valid).

    ``expected_event_type`` narrows the check for endpoints that take one event type only
    (``/sessions`` takes ``sessionStart``); ``None`` accepts any known type.
    """
    if not isinstance(body, dict):
        return [Problem("request", "body", "must be a JSON object")]
    event_type = body.get("eventType")
    name = event_type if isinstance(event_type, str) and event_type in EVENT_RULES else "request"
    problems: list[Problem] = []

    def fail(field: str, rule: str) -> None:
        problems.append(Problem(name, field, rule))

    for member in sorted(set(body) - ENVELOPE_MEMBERS):
        fail(member, "is not an allowed top-level member")

    if event_type is None:
        fail("eventType", "is required")
    elif not isinstance(event_type, str):
        fail("eventType", "must be a string")
    elif event_type not in EVENT_RULES:
        fail("eventType", f"must be one of the known event types (got {event_type[:40]!r})")
    elif expected_event_type is not None and event_type != expected_event_type:
        fail("eventType", f"must be {expected_event_type!r} on this endpoint")

    _check_player_time(body.get("playerTime"), fail)

    if name == "request":  # without a known event type the rest cannot be judged
        return problems
    rule = EVENT_RULES[name]

    params = body.get("params")
    if "params" in body and not rule.params_allowed:
        fail("params", "must be omitted on this event")
    elif "params" not in body:
        if name in PARAMS_REQUIRED:
            fail("params", "is required")
    elif not isinstance(params, dict):
        fail("params", "must be an object")
    else:
        _check_params(name, rule, params, fail)

    if "qoeData" in body:
        _check_qoe(body["qoeData"], fail)

    custom = body.get("customMetadata")
    if "customMetadata" in body:
        if name not in CUSTOM_METADATA_EVENTS:
            fail("customMetadata", "is only allowed on sessionStart, adStart and chapterStart")
        else:
            _check_custom_metadata(custom, fail)
    return problems


def _check_player_time(player_time: object, fail: _Fail) -> None:
    if player_time is None:
        fail("playerTime", "is required")
        return
    if not isinstance(player_time, dict):
        fail("playerTime", "must be an object")
        return
    for member in sorted(set(player_time) - {"playhead", "ts"}):
        fail(f"playerTime.{member}", "is not allowed (playerTime has exactly playhead and ts)")
    playhead = player_time.get("playhead")
    if playhead is None:
        fail("playerTime.playhead", "is required")
    elif not json_type_matches(playhead, NUMBER):
        fail("playerTime.playhead", "must be a number (seconds)")
    elif playhead < PLAYHEAD_MINIMUM:
        fail("playerTime.playhead", "must not be negative")
    ts = player_time.get("ts")
    if ts is None:
        fail("playerTime.ts", "is required")
    elif not json_type_matches(ts, INTEGER):
        fail("playerTime.ts", "must be an integer (UTC milliseconds)")
    elif not TS_RANGE[0] <= ts <= TS_RANGE[1]:
        fail("playerTime.ts", "must be a non-negative 64-bit integer")


def _check_params(name: str, rule: EventRule, params: dict[str, object], fail: _Fail) -> None:
    for key, kind in rule.required.items():
        if key not in params:
            fail(f"params.{key}", "is required")
        elif not json_type_matches(params[key], kind):
            fail(f"params.{key}", f"must be {_article(kind)} {kind}")
        elif kind == STRING and not params[key]:
            fail(f"params.{key}", "must not be empty")
    for key, value in params.items():
        if key in rule.required:
            continue
        expected = rule.optional.get(key)
        if expected is None:
            fail(f"params.{key[:80]}", "is not a known parameter of this event")
        elif not json_type_matches(value, expected):
            fail(f"params.{key}", f"must be {_article(expected)} {expected}")
    known = {**rule.required, **rule.optional}
    for key, bound in EXCLUSIVE_MINIMUMS.items():
        value = params.get(key)
        if key in known and is_number(value) and value <= bound:
            fail(f"params.{key}", f"must be greater than {bound:g}")
    ids = params.get(CUSTOMER_IDS_KEY)
    if CUSTOMER_IDS_KEY in known and isinstance(ids, dict):
        _check_customer_ids(ids, fail)
    one_of = ANY_OF_REQUIRED.get(name, ())
    if one_of and not any(key in params for key in one_of):
        fail("params", f"must have {' or '.join(one_of)}")
    for key in STATE_LISTS:
        entries = params.get(key)
        if key in known and isinstance(entries, list):
            for index, entry in enumerate(entries):
                if not (
                    isinstance(entry, dict)
                    and set(entry) == {STATE_NAME_KEY}
                    and isinstance(entry[STATE_NAME_KEY], str)
                    and entry[STATE_NAME_KEY]
                ):
                    fail(f"params.{key}[{index}]", f'must be {{"{STATE_NAME_KEY}": "<name>"}}')


def _check_customer_ids(ids: dict[str, object], fail: _Fail) -> None:
    for id_type, entry in ids.items():
        field = f"params.{CUSTOMER_IDS_KEY}.{id_type[:40]}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            fail(field, f'must be {{"id": "<string>", "authState": {"|".join(map(str, AUTH_STATES))}}}')
        elif entry.get("authState", 0) not in AUTH_STATES or isinstance(entry.get("authState"), bool):
            *first, last = AUTH_STATES
            fail(f"{field}.authState", f"must be {', '.join(map(str, first))} or {last}")


def _check_qoe(qoe: object, fail: _Fail) -> None:
    if not isinstance(qoe, dict):
        fail("qoeData", "must be an object")
        return
    for key, value in qoe.items():
        kind = QOE_KEYS.get(key)
        if kind is None:
            fail(f"qoeData.{key[:80]}", "is not a known QoE key (only media.qoe.* keys are allowed)")
        elif not json_type_matches(value, kind):
            fail(f"qoeData.{key}", f"must be {_article(kind)} {kind}")
        elif key in VALUE_ENUMS and value not in VALUE_ENUMS[key]:
            fail(f"qoeData.{key}", "must be " + " or ".join(map(repr, VALUE_ENUMS[key])))


def custom_metadata_problems(custom: Mapping[Any, object]) -> list[tuple[object, str]]:
    """(key, rule) for each entry of a customMetadata object that breaks the rule: keys match
    CUSTOM_METADATA_KEY as a whole, values are strings. Settings (``MediaConfig``) are checked
    with it too, so a key the tracker accepts is one it can send."""
    problems: list[tuple[object, str]] = []
    for key, value in custom.items():
        if not isinstance(key, str) or not CUSTOM_METADATA_KEY.fullmatch(key):
            problems.append((key, CUSTOM_METADATA_KEY_RULE))
        elif not isinstance(value, str):
            problems.append((key, "must be a string"))
    return problems


def _check_custom_metadata(custom: object, fail: _Fail) -> None:
    if not isinstance(custom, dict):
        fail("customMetadata", "must be an object")
        return
    for key, rule in custom_metadata_problems(custom):
        # A refused key is quoted (it may hold spaces or worse) and cut short.
        fail(f"customMetadata.{str(key)[:80]!r}" if rule == CUSTOM_METADATA_KEY_RULE else f"customMetadata.{key}", rule)

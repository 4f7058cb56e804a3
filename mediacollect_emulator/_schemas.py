"""JSON Schemas (draft-04) for ``GET /api/v1/schemas/{eventType}``, generated from the rule tables.

Adobe's server publishes one schema per event type and validates against it (spec §1.7, §4.15).
Ours are built from ``mediacollect.rules``, the table the tracker checks before sending and the
emulator answers 400 from, so a client that validates against these schemas and the emulator
itself always agree (tests/emulator/test_schemas.py checks that on generated bodies).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from mediacollect import rules

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
# The rule's key pattern with its end written as "nothing follows": "$" also matches before a
# final newline in Python's re (which Python validators use for "pattern"), not in ECMA-262 (which
# JSON Schema specifies). This spelling means the same in both, and the same as the rule table.
CUSTOM_METADATA_KEY = rules.CUSTOM_METADATA_KEY.pattern.removesuffix("$") + r"(?![\s\S])"


def _param_schema(key: str, kind: str, *, required: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == rules.STRING and required:  # a required string must not be empty
        schema["minLength"] = 1
    if key in rules.EXCLUSIVE_MINIMUMS:
        schema.update(minimum=rules.EXCLUSIVE_MINIMUMS[key], exclusiveMinimum=True)
    if key == rules.CUSTOMER_IDS_KEY:
        schema["additionalProperties"] = {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "authState": {"enum": list(rules.AUTH_STATES)}},
        }
    if key in rules.STATE_LISTS:
        schema["items"] = {
            "type": "object",
            "required": [rules.STATE_NAME_KEY],
            "properties": {rules.STATE_NAME_KEY: {"type": "string", "minLength": 1}},
            "additionalProperties": False,
        }
    return schema


def _params_schema(event_type: str, rule: rules.EventRule) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, kind in rule.required.items():
        properties[key] = _param_schema(key, kind, required=True)
    for key, kind in rule.optional.items():
        properties[key] = _param_schema(key, kind, required=False)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if rule.required:
        schema["required"] = list(rule.required)
    if event_type in rules.ANY_OF_REQUIRED:
        schema["anyOf"] = [{"required": [key]} for key in rules.ANY_OF_REQUIRED[event_type]]
    return schema


def _qoe_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": kind} for key, kind in rules.QOE_KEYS.items()}
    for key, values in rules.VALUE_ENUMS.items():
        properties[key] = {"type": properties[key]["type"], "enum": list(values)}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def schema_for(event_type: str) -> Mapping[str, Any] | None:
    """The schema a body of ``event_type`` must satisfy, or None for an unknown event type."""
    return _schema(event_type) if event_type in rules.EVENT_RULES else None


def schema_json(event_type: str) -> bytes | None:
    """The schema as served; the cache holds only the known event types (a miss is not cached:
    every name a client makes up would stay in memory)."""
    return _schema_json(event_type) if event_type in rules.EVENT_RULES else None


@cache
def _schema_json(event_type: str) -> bytes:
    return json.dumps(_schema(event_type)).encode()


@cache
def _schema(event_type: str) -> Mapping[str, Any]:
    rule = rules.EVENT_RULES[event_type]
    properties: dict[str, Any] = {
        "eventType": {"type": "string", "enum": [event_type]},
        "playerTime": {
            "type": "object",
            "required": ["playhead", "ts"],
            "properties": {
                "playhead": {"type": "number", "minimum": rules.PLAYHEAD_MINIMUM},
                "ts": {"type": "integer", "minimum": rules.TS_RANGE[0], "maximum": rules.TS_RANGE[1]},
            },
            "additionalProperties": False,
        },
        "qoeData": _qoe_schema(),
    }
    required = ["eventType", "playerTime"]
    if rule.params_allowed:
        properties["params"] = _params_schema(event_type, rule)
        if event_type in rules.PARAMS_REQUIRED:
            required.append("params")
    if event_type in rules.CUSTOM_METADATA_EVENTS:
        properties["customMetadata"] = {
            "type": "object",
            "patternProperties": {CUSTOM_METADATA_KEY: {"type": "string"}},
            "additionalProperties": False,
        }
    return {
        "$schema": DRAFT_04,
        "id": f"/api/v1/schemas/{event_type}",
        "title": f"Media Collection API {event_type} event",
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }

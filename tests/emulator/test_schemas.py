"""The published JSON Schemas and the rule table judge every body alike.

Bodies are generated around the rules (right and wrong types, missing and unknown keys, extra
members) and each is judged twice: by ``validate_body`` (what the tracker checks and the emulator
answers 400 from) and by a draft-04 validator with the schema ``GET /api/v1/schemas/{eventType}``
serves. They must agree on every one.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings

from mediacollect import rules, validate_body
from mediacollect_emulator._schemas import schema_for
from tests.emulator.strategies import bodies


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_schema_and_rule_table_agree(body: dict[str, Any]) -> None:
    schema = schema_for(body["eventType"])
    assert schema is not None
    schema_says_valid = jsonschema.Draft4Validator(schema).is_valid(body)
    problems = validate_body(body)
    assert schema_says_valid == (not problems), (problems, body)


def test_every_event_type_has_a_valid_draft_04_schema() -> None:
    for event_type in rules.EVENT_TYPES:
        schema = schema_for(event_type)
        assert schema is not None
        jsonschema.Draft4Validator.check_schema(schema)
    assert schema_for("nope") is None

"""Settings take exactly what the rules let the tracker send: one rule, two callers."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from mediacollect import ConfigError, MediaConfig, validate_body
from mediacollect.rules import CUSTOM_METADATA_KEY_RULE
from tests.helpers import START

# Keys near the rule's edges: its alphabet with one character after (a trailing newline above
# all, which "$" lets through), and any text.
EDGES = st.sampled_from(["", "\n", " ", "-", "é", "\t"])
KEYS = st.builds(str.__add__, st.text(alphabet="aZ09_.", max_size=4), EDGES) | st.text(max_size=6)
VALUES = st.text(max_size=4) | st.integers() | st.none()


@given(key=KEYS, value=VALUES)
def test_custom_metadata_is_accepted_by_settings_exactly_when_it_can_be_sent(key: str, value: object) -> None:
    body = copy.deepcopy(START)
    body["customMetadata"] = {key: value}
    sendable = not validate_body(body)
    try:
        MediaConfig(id="x", custom_metadata={key: value})  # type: ignore[dict-item]
    except ConfigError as err:
        assert not sendable, err
        assert err.field == f"custom_metadata.{key}"
    else:
        assert sendable, validate_body(body)


def test_a_key_with_a_trailing_newline_is_refused_naming_the_rule() -> None:
    try:
        MediaConfig(id="x", custom_metadata={"a\n": "v"})
    except ConfigError as err:
        assert err.rule == CUSTOM_METADATA_KEY_RULE == "key must match ^[a-zA-Z0-9_.]+$"
    else:
        raise AssertionError("accepted a key the server refuses")

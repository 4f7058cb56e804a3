"""Hypothesis strategies for request bodies: valid ones around the rule table, and near-valid
ones (a valid body with up to two members replaced, removed or added). The schema test and the
fuzz test draw from them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mediacollect import rules

VALUES: dict[str, st.SearchStrategy[Any]] = {
    rules.STRING: st.text(max_size=5),
    rules.BOOLEAN: st.booleans(),
    rules.INTEGER: st.integers(-3, 3),
    rules.NUMBER: st.one_of(st.integers(-3, 3), st.floats(-3, 1e6)),
    rules.OBJECT: st.dictionaries(st.sampled_from(["crm", "email"]), st.fixed_dictionaries(
        {"id": st.one_of(st.text(max_size=3), st.integers())},
        optional={"authState": st.sampled_from([0, 1, 2, 3, True, "1"])}), max_size=2),
    rules.ARRAY: st.lists(st.one_of(st.fixed_dictionaries({rules.STATE_NAME_KEY: st.text(max_size=3)}),
                                    st.integers(), st.dictionaries(st.text(max_size=2), st.text(max_size=2),
                                                                   max_size=2)), max_size=2),
}
ANY_VALUE = st.one_of(*VALUES.values(), st.none())


def valid_value(key: str, kind: str, required: bool) -> st.SearchStrategy[Any]:
    if key == "media.length":
        return st.one_of(st.integers(1, 5), st.floats(0.5, 1e5))
    if key == "visitor.customerIDs":
        return st.dictionaries(st.sampled_from(["crm", "email"]), st.fixed_dictionaries(
            {"id": st.text(max_size=3)}, optional={"authState": st.sampled_from([0, 1, 2])}), max_size=2)
    if key in ("statesStart", "statesEnd"):
        return st.lists(st.fixed_dictionaries({rules.STATE_NAME_KEY: st.text(min_size=1, max_size=3)}), max_size=2)
    if kind == rules.STRING and required:
        return st.text(min_size=1, max_size=5)
    if kind == rules.NUMBER:
        return st.one_of(st.integers(0, 3), st.floats(0, 1e6))
    return VALUES[kind]


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(rules.EVENT_TYPES))
    rule = rules.EVENT_RULES[event_type]
    body: dict[str, Any] = {"eventType": event_type, "playerTime": {
        "playhead": draw(st.one_of(st.integers(0, 100), st.floats(0, 1e5))), "ts": draw(st.integers(0, 2**63 - 1))}}
    if rule.params_allowed and (event_type in rules.PARAMS_REQUIRED or draw(st.booleans())):
        params = {key: draw(valid_value(key, kind, True)) for key, kind in rule.required.items()}
        for key in draw(st.lists(st.sampled_from(sorted(rule.optional)), max_size=3)) if rule.optional else []:
            params[key] = draw(valid_value(key, rule.optional[key], False))
        if event_type == "statesUpdate" and not params:
            params["statesStart"] = []
        body["params"] = params
    if draw(st.booleans()):
        body["qoeData"] = draw(st.dictionaries(st.sampled_from(sorted(rules.QOE_KEYS)), st.integers(0, 5),
                                               max_size=2))
        if "media.qoe.errorID" in body["qoeData"]:
            body["qoeData"]["media.qoe.errorID"] = "E1"
        if "media.qoe.errorSource" in body["qoeData"]:
            body["qoeData"]["media.qoe.errorSource"] = draw(st.sampled_from(rules.ERROR_SOURCES))
    if event_type in rules.CUSTOM_METADATA_EVENTS and draw(st.booleans()):
        body["customMetadata"] = draw(st.dictionaries(st.from_regex(r"[a-zA-Z0-9_.]{1,6}", fullmatch=True),
                                                      st.text(max_size=3), max_size=2))
        if draw(st.booleans()):  # keys a regex flavour could get wrong: line breaks, other alphabets
            body["customMetadata"][draw(st.from_regex(r"[a-zA-Z0-9_.]{0,3}[\n\r\u00e9\u212a ]?", fullmatch=True))] = "v"
    return body


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body, then zero to two mutations: a value replaced, a member removed or added."""
    body = draw(valid_bodies())
    for _ in range(draw(st.integers(0, 2))):
        paths = [p for p in _paths(body) if p != ("eventType",)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(ANY_VALUE)
        elif action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "bad key", "media.bogus", "params", "qoeData", "customMetadata",
                                         "media.qoe.bitrate", "media.ad.id"]))] = draw(ANY_VALUE)
    return body

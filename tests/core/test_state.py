"""The state tables of ``_state`` are complete, and the tracker writes its state in one place."""

from __future__ import annotations

import ast
import inspect

import pytest

from mediacollect import _tracker
from mediacollect._events import PlayerEvent
from mediacollect._state import (
    ARRIVAL_RULES,
    NO_SESSION_STATES,
    OPEN_STATES,
    PLAYBACK_RULES,
    SEEK_ORIGINS,
    SEEK_SETTLED,
    STEP_TRANSITIONS,
    Fact,
    Playback,
    Step,
    first_rule,
)


def test_the_tracker_assigns_its_state_only_in_enter() -> None:
    """One writer of playback state: ``self.state = ...`` appears in ``__init__`` and ``_enter``
    only; every other change goes through ``_enter``."""
    tree = ast.parse(inspect.getsource(_tracker))
    writers = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
                if any(ast.unparse(target) == "self.state" for target in targets):
                    writers.add(function.name)
    assert writers == {"__init__", "_enter"}


@pytest.mark.parametrize("event", list(PlayerEvent))
@pytest.mark.parametrize("state", list(Playback))
def test_every_observation_finds_its_step(event: PlayerEvent, state: Playback) -> None:
    """Without a session the arrival rules decide everything; with one, the playback rules have
    an answer for any event and any facts (their last rule matches all)."""
    for facts in (frozenset(), frozenset(Fact)):
        arrival = first_rule(ARRIVAL_RULES, event, state, facts)
        if state in NO_SESSION_STATES:
            assert arrival is not None
        if arrival is None:
            assert first_rule(PLAYBACK_RULES, event, state, facts) is not None


def test_every_step_is_reachable_and_fixed_outcomes_are_tabled() -> None:
    steps = {rule.step for rule in ARRIVAL_RULES + PLAYBACK_RULES}
    assert steps == set(Step)
    assert set(STEP_TRANSITIONS) <= steps


def test_a_settled_seek_has_an_outcome_from_every_state_a_seek_begins_in() -> None:
    assert {Playback.PLAYING, Playback.PAUSED, Playback.BUFFERING, Playback.STARTING, Playback.ERRORED} == SEEK_ORIGINS
    assert set(SEEK_SETTLED) == {(paused, origin) for paused in (False, True) for origin in SEEK_ORIGINS}
    assert all(state in OPEN_STATES for _, state in SEEK_SETTLED.values())

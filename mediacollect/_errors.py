"""Errors, split like h11's: the integrator's mistakes vs the server's answers."""

from __future__ import annotations


class MediaCollectError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MediaCollectError, ValueError):
    """A setting is missing or wrong. Names the field and the rule, before anything is sent."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"config field {field!r} {rule}")


class UsageError(MediaCollectError):
    """The integrator called the tracker in an order the protocol forbids (an ad outside a break,
    a second chapter while one is open...). The tracker's state is unchanged when it is raised."""


class ValidationError(MediaCollectError, ValueError):
    """A body we were about to send breaks a rule of ``rules`` (which the server checks too)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))

"""The outbox: strict order, one request in flight, retries that keep the body, reported drops."""

from __future__ import annotations

import json

from mediacollect import ApiEvent, Outbox
from mediacollect._outbox import LOCATION_UNREADABLE, MAX_EVENT_AGE_MS
from mediacollect.transport import HttpResponse
from tests.core.harness import MEDIA, Run

API = "http://127.0.0.1:8001/api/v1"
LOCATION = {"location": "/api/v1/sessions/abc"}


def events() -> list[ApiEvent]:
    run = Run.new()
    run.player(0, _p("play"), 0, duration=MEDIA.length)
    run.player(0.2, _p("playing"), 0)
    run.player(3, _p("pause"), 2.8)
    return run.events


def _p(name: str):  # type: ignore[no-untyped-def]
    from mediacollect import PlayerEvent

    return PlayerEvent(name)


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> HttpResponse:
    return HttpResponse(status, headers or {}, body)


def test_events_wait_for_the_sid_and_go_out_in_order_one_at_a_time() -> None:
    outbox = Outbox(API, rand=lambda: 0.5)
    outbox.push(events())
    first = outbox.next_request(0)
    assert first is not None and first.url == f"{API}/sessions"
    assert outbox.next_request(0) is None, "one request in flight"
    reports = outbox.on_response(answer(201, LOCATION), 30)
    assert [(r.kind, r.sid, r.latency_ms) for r in reports] == [("session", "abc", 30)]
    sent = []
    while (request := outbox.next_request(40)) is not None:
        sent.append(json.loads(request.body)["eventType"])
        assert request.url == "http://127.0.0.1:8001/api/v1/sessions/abc/events"
        outbox.on_response(answer(204), 41)
    assert sent == ["play", "pauseStart"]
    assert len(outbox) == 0


def test_a_transient_failure_keeps_the_head_and_backs_off_exactly() -> None:
    outbox = Outbox(API, rand=lambda: 0.5)
    outbox.push(events())
    body = outbox.next_request(0).body  # type: ignore[union-attr]
    [report] = outbox.on_response(answer(503, body=b'{"message": "busy"}'), 10)
    assert (report.kind, report.status, report.message, report.retry_in_ms) == ("retry", 503, "busy", 500)
    assert outbox.next_request(509) is None and outbox.next_deadline == 510
    again = outbox.next_request(510)
    assert again is not None and again.body == body
    [report] = outbox.on_error("NetworkError: Failed to execute 'send'", 520)
    assert (report.kind, report.status, report.attempt, report.retry_in_ms) == ("retry", None, 2, 1000)
    outbox.next_request(1520)
    [report] = outbox.on_response(answer(429, {"retry-after": "7"}), 1530)
    assert report.retry_in_ms == 7000, "Retry-After beats a shorter backoff"


def test_a_400_drops_that_event_only_and_reports_the_message() -> None:
    outbox = Outbox(API)
    outbox.push(events())
    outbox.next_request(0)
    outbox.on_response(answer(201, LOCATION), 1)
    outbox.next_request(2)
    [report] = outbox.on_response(answer(400, body=b'{"message": "play: params.x is not a known parameter"}'), 3)
    assert (report.kind, report.event_type, report.message) == (
        "rejected", "play", "play: params.x is not a known parameter")
    nxt = outbox.next_request(4)
    assert nxt is not None and json.loads(nxt.body)["eventType"] == "pauseStart"


def test_a_rejected_session_start_drops_its_events_with_reasons() -> None:
    outbox = Outbox(API)
    outbox.push(events())
    outbox.next_request(0)
    reports = outbox.on_response(answer(400, body=b"plain text reason"), 1)
    assert [(r.kind, r.event_type) for r in reports] == [
        ("rejected", "sessionStart"), ("dropped", "play"), ("dropped", "pauseStart")]
    assert reports[0].message == "plain text reason"
    assert outbox.next_request(2) is None


def test_a_201_without_readable_location_is_explained() -> None:
    outbox = Outbox(API)
    outbox.push(events())
    outbox.next_request(0)
    reports = outbox.on_response(answer(201), 1)
    assert reports[0].kind == "rejected" and reports[0].message == LOCATION_UNREADABLE
    assert "Access-Control-Expose-Headers: Location" in LOCATION_UNREADABLE
    assert len(outbox) == 0


def test_session_gone_is_reported_for_renewal() -> None:
    outbox = Outbox(API)
    outbox.push(events())
    outbox.next_request(0)
    outbox.on_response(answer(201, LOCATION), 1)
    outbox.next_request(2)
    reports = outbox.on_response(answer(410, body=b'{"message": "the session is closed"}'), 3)
    assert [(r.kind, r.event_type) for r in reports] == [("session-gone", "play"), ("dropped", "pauseStart")]


def test_an_event_older_than_the_server_window_is_given_up_with_a_report() -> None:
    outbox = Outbox(API, rand=lambda: 0.0)
    batch = events()
    outbox.push(batch)
    late = batch[0].ts + MAX_EVENT_AGE_MS + 1
    outbox.next_request(late)
    reports = outbox.on_error("TimeoutError", late)
    assert reports[0].kind == "dropped" and "gave up after 1 attempts" in reports[0].message


def test_pending_consent_holds_in_order_until_opt_in() -> None:
    outbox = Outbox(API, consent="pending")
    outbox.push(events())
    assert outbox.next_request(0) is None and outbox.next_deadline is None
    outbox.opt_in()
    first = outbox.next_request(1)
    assert first is not None and json.loads(first.body)["eventType"] == "sessionStart"


def test_opt_out_drops_what_waits_and_everything_after() -> None:
    outbox = Outbox(API, consent="pending")
    outbox.push(events())
    dropped = outbox.opt_out()
    assert [(r.kind, r.event_type) for r in dropped] == [
        ("dropped", "sessionStart"), ("dropped", "play"), ("dropped", "pauseStart")]
    assert outbox.push(events()) == [] and len(outbox) == 0  # already reported
    assert outbox.next_request(5) is None


def test_a_full_queue_drops_the_oldest_ping_first_and_says_so() -> None:
    from mediacollect import EventType

    outbox = Outbox(API, consent="pending", max_queue=3)
    batch = events()  # sessionStart, play, pauseStart
    ping = ApiEvent(EventType.PING, 1.0, batch[-1].ts + 1, 1)
    assert outbox.push([*batch, ping]) == [outbox_report("ping")]
    assert [r.event_type for r in outbox.push([ping, ping])] == ["ping", "ping"]
    later = ApiEvent(EventType.PAUSE_START, 1.0, ping.ts + 1, 1)
    assert outbox.push([later]) == [outbox_report("play")]  # no ping left: the oldest event goes


def outbox_report(event_type: str):  # type: ignore[no-untyped-def]
    from mediacollect import Report

    return Report("dropped", event_type, 1, message="not sent: more than 3 events waiting")


def test_retry_now_ends_a_backoff_when_the_network_is_back() -> None:
    outbox = Outbox(API, rand=lambda: 0.9)
    outbox.push(events())
    outbox.next_request(0)
    outbox.on_error("NetworkError", 1)
    assert outbox.next_request(2) is None
    outbox.retry_now()
    assert outbox.next_request(2) is not None


def test_an_attempt_in_flight_when_the_network_comes_back_is_retried_at_once_if_it_fails() -> None:
    """The browser's "online" can arrive while an attempt made offline is still pending: that
    attempt's failure must not start a long backoff."""
    outbox = Outbox(API, rand=lambda: 0.9)
    outbox.push(events())
    now = 0
    for _ in range(6):  # offline for a while: the backoff grows (0.9 x 32 s, capped at 30 s)
        assert outbox.next_request(now) is not None
        [report] = outbox.on_error("NetworkError", now + 1)
        now = outbox.next_deadline  # type: ignore[assignment]
    assert report.retry_in_ms == 27_000
    assert outbox.next_request(now) is not None  # in flight when the network comes back
    outbox.retry_now()
    [report] = outbox.on_error("NetworkError", now + 5)
    assert report.retry_in_ms == 0 and outbox.next_request(now + 5) is not None
    # And the backoff has started over: 0.9 x 1 s, not 27 s.
    [report] = outbox.on_error("NetworkError", now + 6)
    assert report.retry_in_ms == 900


def test_a_retry_after_is_still_honoured_once_the_network_is_back() -> None:
    outbox = Outbox(API, rand=lambda: 0.9)
    outbox.push(events())
    assert outbox.next_request(0) is not None
    outbox.retry_now()
    [report] = outbox.on_response(answer(503, {"retry-after": "3"}), 10)
    assert report.retry_in_ms == 3000


def test_an_earlier_page_loads_undelivered_events_are_replayed_then_its_session_ended() -> None:
    old_page = Outbox(API)
    batch = events()
    old_page.push(batch)
    old_page.next_request(0)
    old_page.on_response(answer(201, LOCATION), 1)
    old_page.next_request(2)
    old_page.on_error("NetworkError", 3)  # play still waiting when the page went away
    stored = json.loads(json.dumps(old_page.undelivered()))  # what localStorage keeps

    new_page = Outbox(API)
    new_page.push(Run.new().tracker.observe(_obs_play()))  # the new page's own viewing
    assert new_page.restore(stored, batch[-1].ts + 5_000) == []
    sent = []
    while (request := new_page.next_request(batch[-1].ts + 6_000)) is not None:
        body = json.loads(request.body)
        sent.append((body["eventType"], request.url.rsplit("/", 2)[-2]))
        new_page.on_response(answer(204) if request.url.endswith("/events") else answer(201, LOCATION), 0)
    assert sent == [("play", "abc"), ("pauseStart", "abc"), ("sessionEnd", "abc"), ("sessionStart", "v1")]


def test_stored_events_too_old_for_their_session_are_dropped_with_a_report() -> None:
    old_page = Outbox(API)
    batch = events()
    old_page.push(batch)
    reports = Outbox(API).restore(old_page.undelivered(), batch[-1].ts + MAX_EVENT_AGE_MS + 1)
    assert [r.kind for r in reports] == ["dropped"] * 3
    assert Outbox(API).restore({"nonsense": 1}, 0)[0].message.startswith("stored events")


def _obs_play():  # type: ignore[no-untyped-def]
    from mediacollect import Observation, PlayerEvent

    return Observation(PlayerEvent.PLAY, 1_700_000_100_000, 0.0, duration=60.0)


def test_a_lost_session_keeps_what_nothing_re_states() -> None:
    from mediacollect import EventType, Qoe

    outbox = Outbox(API)
    batch = events()
    error = ApiEvent(EventType.ERROR, 2.8, batch[-1].ts + 1, 1, qoe=Qoe(error_id="E", error_source="player"))
    ping = ApiEvent(EventType.PING, 2.8, batch[-1].ts + 2, 1)
    outbox.push([*batch, error, ping])
    outbox.next_request(0)
    outbox.on_response(answer(201, LOCATION), 1)
    outbox.next_request(2)
    reports = outbox.on_response(answer(404), 3)
    assert [(r.kind, r.event_type) for r in reports] == [
        ("session-gone", "play"), ("dropped", "pauseStart"), ("dropped", "ping")]
    assert [e.type for e in outbox.orphans] == [EventType.ERROR]

"""Every event keeps its own time and its own session, in the page against the emulator: slow
answers (the emulator's delay faults), a sessionStart answered after the request timeout, a new
source, and seeks around ads. Each test asserts the sequence with its ts and playheads."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import press_play, wait_ready, with_settings
from tests.helpers import BASIC_PAGE, Emulator, wait_for

SLACK_MS = 150  # from the test's clock read to the shim's stamp in the element's event handler
PING_MS = 4_000  # the content ping interval where a test sets it: a ping soon, after the session has opened


def act(page: Page, script: str) -> int:
    """Run ``script`` on the page's video; the page's clock when it ran (ms)."""
    return int(page.evaluate(f"() => {{ const v = document.getElementById('video'); const t = Date.now(); "
                             f"{script}; return t; }}"))


def bodies(emulator: Emulator, session: int = 0) -> list[dict[str, Any]]:
    sessions = emulator.sessions()
    return [e["body"] for e in sessions[session]["events"]] if len(sessions) > session else []


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [b["eventType"] for b in items]


def ts(body: dict[str, Any]) -> int:
    return int(body["playerTime"]["ts"])


def assert_in_time(items: list[dict[str, Any]]) -> None:
    stamps = [ts(b) for b in items]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "ts must strictly increase"


def assert_grid(items: list[dict[str, Any]], step_ms: int) -> None:
    begun = ts(items[0])
    off = [ts(b) - begun for b in items if b["eventType"] == "ping" and (ts(b) - begun) % step_ms > 2]
    assert off == [], f"pings off their {step_ms} ms grid: {off}"


def play_demo(page: Page, emulator: Emulator) -> None:
    """The demo page (a pre-roll, a mid-roll, chapters), played once Python is ready."""
    page.goto(emulator.page_url("/"))
    wait_ready(page)
    press_play(page)


def play_basic(page: Page, emulator: Emulator) -> int:
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    press_play(page)
    wait_for(lambda: kinds(bodies(emulator))[:3] == ["sessionStart", "stateStart", "play"])
    return ts(bodies(emulator)[0])


def test_a_slow_answer_spanning_a_ping_keeps_every_event_at_its_own_time(page: Page, fresh: Emulator) -> None:
    """The worker is blocked 2.5 s in a request across a content ping while the viewer pauses and
    resumes twice: the ping on its grid, each pause and play at the moment it happened. The page
    pings every 4 s instead of 10 s (its content_ping_interval setting): the same timeline around
    the ping, 1.5 s before it to 0.9 s after, without waiting for a 10 s one."""
    page.add_init_script(with_settings(content_ping_interval=PING_MS / 1000))
    begun = play_basic(page, fresh)
    page.wait_for_function(f"Date.now() >= {begun + PING_MS - 1_500}")
    fresh.post("/_emulator/faults", {"delay_ms": 2_500, "count": 1, "endpoint": "events"})
    moments = [act(page, "v.pause()")]
    for from_ping, script in ((-600, "v.play()"), (300, "v.pause()"), (900, "v.play()")):
        page.wait_for_function(f"Date.now() >= {begun + PING_MS + from_ping}")
        moments.append(act(page, script))
    items = wait_for(lambda: (b := bodies(fresh)) and kinds(b).count("play") == 3 and "ping" in kinds(b) and b,
                     timeout=30)
    assert_in_time(items)
    assert_grid(items, PING_MS)
    sent = [(b["eventType"], ts(b)) for b in items[3:] if b["eventType"] != "stateStart"]
    assert [k for k, _ in sent[:5]] == ["pauseStart", "play", "ping", "pauseStart", "play"]
    assert sent[2][1] == begun + PING_MS
    for (kind, stamp), moment in zip([s for s in sent if s[0] != "ping"], moments, strict=False):
        assert 0 <= stamp - moment < SLACK_MS, f"{kind} stamped {stamp - moment} ms after it happened"
    playheads = [b["playerTime"]["playhead"] for b in items]
    assert playheads == sorted(playheads), "a playhead went backwards"


def test_a_slow_answer_during_an_ad_keeps_its_pings_on_the_second(page: Page, fresh: Emulator) -> None:
    """In the pre-roll pings come every second: a 2.5 s answer spans two of them while the viewer
    pauses the ad. The pings stay on the 1 s grid with the content playhead frozen at 0."""
    play_demo(page, fresh)
    wait_for(lambda: "adStart" in kinds(bodies(fresh)))
    fresh.post("/_emulator/faults", {"delay_ms": 2_500, "count": 1, "endpoint": "events"})
    paused = act(page, "v.pause()")
    page.wait_for_function(f"Date.now() >= {paused + 1_500}")
    played = act(page, "v.play()")
    items = wait_for(lambda: (b := bodies(fresh)) and "adComplete" in kinds(b) and b, timeout=30)
    assert_in_time(items)
    assert_grid(items, 1_000)
    in_ad = items[kinds(items).index("adStart"):kinds(items).index("adComplete")]
    assert [b["eventType"] for b in in_ad if b["eventType"] in ("pauseStart", "play")] == ["pauseStart", "play"]
    pause = next(b for b in in_ad if b["eventType"] == "pauseStart")
    play = next(b for b in in_ad if b["eventType"] == "play")
    assert 0 <= ts(pause) - paused < SLACK_MS and 0 <= ts(play) - played < SLACK_MS
    assert len({b["playerTime"]["playhead"] for b in in_ad}) == 1, "the content playhead is frozen in an ad"


def test_a_session_start_answered_after_the_request_timeout_opens_one_session(
        page: Page, fresh: Emulator) -> None:
    """The API answers the sessionStart 1.5 s past the request timeout: the tracker waits for
    that answer (a retry would open a second session for the same viewing). The page sets its
    request_timeout to 3 s (10 s by default), so the answer comes after 4.5 s, not 12."""
    page.add_init_script(with_settings(request_timeout=3))
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    fresh.post("/_emulator/faults", {"delay_ms": 4_500, "count": 1, "endpoint": "sessions"})
    pressed = act(page, "v.play()")
    page.wait_for_function(f"Date.now() >= {pressed + 2_000}")
    paused = act(page, "v.pause()")
    items = wait_for(lambda: (b := bodies(fresh)) and "pauseStart" in kinds(b) and b, timeout=30)
    assert len(fresh.sessions()) == 1
    assert kinds(items)[:4] == ["sessionStart", "stateStart", "play", "pauseStart"]
    assert 0 <= ts(items[0]) - pressed < SLACK_MS and 0 <= ts(items[3]) - paused < SLACK_MS
    starts = [r for r in fresh.get("/_emulator/requests") if r["path"].endswith("/sessions")]
    assert len(starts) == 1, "the sessionStart was sent once"


def test_a_new_source_is_a_new_session_and_the_old_one_is_abandoned(page: Page, fresh: Emulator) -> None:
    play_basic(page, fresh)
    page.wait_for_function("document.getElementById('video').currentTime > 2")
    switched = act(page, "v.dataset.mediaId = 'trailer'; v.src = '/media/ad-trailer.webm'; v.play()")
    second = wait_for(lambda: (b := bodies(fresh, 1)) and "play" in kinds(b) and b, timeout=20)
    first = bodies(fresh, 0)
    assert kinds(first)[-1] == "sessionEnd" and "sessionComplete" not in kinds(first)
    assert 0 <= ts(first[-1]) - switched < 1_000
    params = second[0]["params"]
    assert params["media.id"] == "trailer" and params["media.length"] == pytest.approx(6, abs=0.2)
    assert "media.resume" not in params
    assert second[1:2] == [] or kinds(second)[-1] == "play"


def test_seeking_out_of_the_pre_roll_skips_the_ad(page: Page, fresh: Emulator) -> None:
    play_demo(page, fresh)
    wait_for(lambda: "adStart" in kinds(bodies(fresh)))
    page.wait_for_function("document.getElementById('video').currentTime > 0.5")
    act(page, "v.currentTime = v.duration")
    items = wait_for(lambda: (b := bodies(fresh)) and "play" in kinds(b) and b, timeout=20)
    assert [k for k in kinds(items) if k not in ("ping", "stateStart", "chapterStart")] == [
        "sessionStart", "adBreakStart", "adStart", "adSkip", "adBreakComplete", "play"]
    assert_in_time(items)


def test_seeking_past_the_mid_roll_plays_it_where_the_seek_landed(page: Page, fresh: Emulator) -> None:
    play_demo(page, fresh)
    # The pre-roll is over and the content's own events are handled again (its first chapter).
    wait_for(lambda: "chapterStart" in kinds(bodies(fresh)))
    page.wait_for_function("document.getElementById('video').currentTime > 1")
    act(page, "v.currentTime = 20.5")
    items = wait_for(lambda: (b := bodies(fresh)) and kinds(b).count("adBreakStart") == 2 and b, timeout=20)
    after = items[kinds(items).index("play") + 1:]
    names = [k for k in kinds(after) if not k.startswith(("ping", "chapter"))]
    assert names[:3] == ["pauseStart", "play", "adBreakStart"], kinds(after)
    pause, play = (next(b for b in after if b["eventType"] == k) for k in ("pauseStart", "play"))
    assert pause["playerTime"]["playhead"] < 5, "the seek's pauseStart says where playback was"
    assert play["playerTime"]["playhead"] == pytest.approx(20.5, abs=0.1)
    start = next(b for b in after if b["eventType"] == "adBreakStart")
    assert start["params"]["media.ad.podSecond"] == start["playerTime"]["playhead"] >= 20.5
    assert_in_time(items)

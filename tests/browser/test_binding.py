"""The binding as a viewer and an integrator meet it: the demo watched end to end (ads, chapters,
seeks, a scrub storm), two players on one page, elements added and removed, and no leaks."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from mediacollect import validate_body
from tests.browser.conftest import diagnose, press_play, wait_ready
from tests.helpers import BASIC_PAGE, Emulator, wait_for

CONTENT_PLAYING = ("() => { const v = document.getElementById('video');"
                   " return v.src.endsWith('/media/clip.webm') && !v.paused && v.currentTime > %s; }")


def events_of(emulator: Emulator, media_id: str) -> list[dict[str, Any]]:
    for session in emulator.sessions():
        body = session["events"][0]["body"] if session["events"] else {}
        if body.get("params", {}).get("media.id") == media_id:
            return [e["body"] for e in session["events"]]
    return []


def without_pings(bodies: list[dict[str, Any]]) -> list[str]:
    return [b["eventType"] for b in bodies if b["eventType"] != "ping"]


def act(page: Page, emulator: Emulator, script: str, until: str) -> None:
    """Run ``script`` on the demo's video, then wait until the emulator has accepted one more
    ``until`` event in the demo's session: the action has been taken in (a seek: settled)."""
    def count() -> int:
        return without_pings(events_of(emulator, "mediacollect-demo-clip")).count(until)

    before = count()
    video(page, script)
    wait_for(lambda: count() > before)


def video(page: Page, script: str) -> Any:
    return page.evaluate(f"() => {{ const v = document.getElementById('video'); {script} }}")


def test_a_scripted_viewing_of_the_demo(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url())
    wait_ready(page)
    press_play(page)
    page.wait_for_function(CONTENT_PLAYING % 2.0, timeout=20_000)  # the 4 s pre-roll, played to its end
    act(page, fresh, "v.pause();", until="pauseStart")
    video(page, "v.play();")
    page.wait_for_function(CONTENT_PLAYING % 3.5)
    act(page, fresh, "v.currentTime = 8;", until="play")  # a seek inside the first chapter, settled
    # A scrub storm: 20 seeks in 2 s, ending in the second chapter; settled, it starts chapter 2.
    act(page, fresh, """return (async () => {
        for (let i = 1; i <= 20; i++) { v.currentTime = 8 + i * 0.19; await new Promise((r) => setTimeout(r, 100)); }
    })();""", until="chapterStart")
    act(page, fresh, "v.muted = false;", until="stateEnd")
    video(page, "v.muted = true;")
    skip = page.wait_for_selector(".mediacollect-skip", timeout=20_000)  # mid-roll at 15 s, its 2nd ad
    skip.click()
    page.wait_for_function(CONTENT_PLAYING % 15.3, timeout=10_000)
    video(page, "v.currentTime = 26;")  # out of the second chapter into the third
    page.wait_for_function("document.getElementById('video').ended", timeout=15_000)
    bodies = wait_for(lambda: (b := events_of(fresh, "mediacollect-demo-clip")) and
                      b[-1]["eventType"] == "sessionComplete" and b)

    assert without_pings(bodies) == [
        "sessionStart", "stateStart",  # the demo video starts muted
        "adBreakStart", "adStart", "adComplete", "adBreakComplete", "play", "chapterStart",
        "pauseStart", "play",  # the pause
        "pauseStart", "play",  # the seek to 8 s
        "pauseStart", "chapterSkip", "play", "chapterStart",  # the storm: one interruption, into chapter 2
        "stateEnd", "stateStart",  # unmute, mute
        "adBreakStart", "adStart", "adComplete", "adStart", "adSkip", "adBreakComplete",
        "pauseStart", "chapterSkip", "play", "chapterStart",  # the seek to 26 s, into chapter 3
        "chapterComplete", "sessionComplete",
    ], str([(b["eventType"], b["playerTime"]["playhead"]) for b in bodies if b["eventType"] != "ping"])
    assert all(validate_body(b) == [] for b in bodies)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        by_type.setdefault(body["eventType"], []).append(body)
    pre, mid = by_type["adBreakStart"]
    assert pre["params"]["media.ad.podIndex"] == 0 and pre["playerTime"]["playhead"] < 0.3
    assert mid["params"]["media.ad.podIndex"] == 1 and abs(mid["playerTime"]["playhead"] - 15) < 0.6
    assert [a["params"]["media.ad.id"] for a in by_type["adStart"]] == ["ad-sponsor", "ad-sponsor-2", "ad-trailer"]
    assert [a["params"]["media.ad.podPosition"] for a in by_type["adStart"]] == [1, 1, 2]
    assert by_type["adStart"][2]["customMetadata"] == {"demo.skippable": "yes"}
    # The content playhead stays at the break's position through every ad event and ad ping.
    in_break = False
    for body in bodies:
        in_break = body["eventType"] == "adBreakStart" or (in_break and body["eventType"] != "adBreakComplete")
        if in_break:
            assert body["playerTime"]["playhead"] in (pre["playerTime"]["playhead"], mid["playerTime"]["playhead"])
    # Each chapter starts on the first timeupdate in it (4 a second) once a seek has settled.
    chapters = [(c["params"]["media.chapter.index"], c["params"]["media.chapter.friendlyName"],
                 c["playerTime"]["playhead"]) for c in by_type["chapterStart"]]
    assert [c[:2] for c in chapters] == [(1, "Opening"), (2, "Middle"), (3, "Closing")]
    assert [c[2] for c in chapters] == [pytest.approx(p, abs=0.9) for p in (0.2, 12.2, 26.2)]
    assert by_type["sessionComplete"][0]["playerTime"]["playhead"] == 30
    # The panel shows the session the emulator has, and the skip button is gone.
    assert page.locator(".mediacollect-skip").count() == 0
    sid = page.text_content("#session-id")
    assert any(s["sid"] == sid for s in fresh.sessions())


def test_two_players_on_one_page_keep_two_sessions(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url("/examples/two-players.html"))
    wait_ready(page)
    page.evaluate("() => { document.getElementById('left').play(); document.getElementById('right').play(); }")
    wait_for(lambda: all("play" in without_pings(events_of(fresh, f"example-{side}")) for side in ("left", "right")))
    page.evaluate("() => document.getElementById('left').pause()")
    # The bitrate hook, as an hls.js LEVEL_SWITCHED handler would call it, for the right one only.
    page.evaluate("() => window.mediacollect.reportBitrate(document.getElementById('right'), 1500000)")
    wait_for(lambda: "bitrateChange" in without_pings(events_of(fresh, "example-right")))
    page.evaluate("() => { document.getElementById('right').currentTime = 20; }")
    left = wait_for(lambda: (e := events_of(fresh, "example-left")) and "pauseStart" in without_pings(e) and e)
    right = wait_for(lambda: (e := events_of(fresh, "example-right")) and without_pings(e).count("play") == 2
                     and e)
    assert without_pings(left) == ["sessionStart", "stateStart", "play", "pauseStart"]
    assert without_pings(right) == ["sessionStart", "stateStart", "play", "bitrateChange", "pauseStart", "play"]
    assert next(b for b in right if b["eventType"] == "bitrateChange")["qoeData"]["media.qoe.bitrate"] == 1500000
    assert left[0]["params"]["media.playerName"] == "left-player"  # each element's own settings
    assert right[0]["params"]["media.playerName"] == "right-player"
    assert left[-1]["playerTime"]["playhead"] < 3  # the seek on the right moved only the right
    assert right[-1]["playerTime"]["playhead"] >= 20
    sids = {s["sid"] for s in fresh.sessions()}
    panels = {page.text_content("#left-panel [data-panel=sid]"), page.text_content("#right-panel [data-panel=sid]")}
    assert panels == sids and len(sids) == 2
    assert page.text_content("#left-panel [data-panel=state]") == "paused"


def test_an_element_tracked_from_python_with_its_own_settings(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url("/examples/track-from-python.html"))
    wait_ready(page)
    page.evaluate("() => document.getElementById('clip').play()")
    bodies = wait_for(lambda: (e := events_of(fresh, "from-python")) and "play" in without_pings(e) and e)
    assert without_pings(bodies)[:7] == ["sessionStart", "stateStart", "adBreakStart", "adStart", "adComplete",
                                         "adBreakComplete", "play"]
    start = bodies[0]["params"]
    assert (start["media.channel"], start["media.name"], start["media.playerName"]) == (
        "python-api", "Tracked from Python", "mediacollect-html5")  # the page's block, overridden per element


ADD_VIDEO = """(id) => {
    const v = document.createElement('video');
    v.id = id; v.src = '/media/clip.webm'; v.muted = true; v.preload = 'auto';
    v.setAttribute('data-mediacollect', '');
    v.setAttribute('data-media-id', id);
    document.body.appendChild(v);
}"""


def test_elements_added_later_are_tracked_and_removed_ones_end_their_session(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    page.evaluate(ADD_VIDEO, "late")
    page.evaluate("() => document.getElementById('late').play()")
    wait_for(lambda: "play" in without_pings(events_of(fresh, "late")))
    page.evaluate("() => document.getElementById('late').remove()")
    bodies = wait_for(lambda: (e := events_of(fresh, "late")) and e[-1]["eventType"] == "sessionEnd" and e)
    assert without_pings(bodies) == ["sessionStart", "stateStart", "play", "sessionEnd"]
    assert events_of(fresh, "mediacollect-demo-clip") == []  # the page's own video was never played


def test_tracking_and_untracking_a_hundred_times_leaks_nothing(page: Page, fresh: Emulator) -> None:
    page.goto(fresh.page_url(BASIC_PAGE))
    wait_ready(page)
    before = diagnose(page)
    assert before["python"]["bindings"] == 1 and before["shim"]["watched"] == 1
    for round_ in range(100):
        page.evaluate(ADD_VIDEO, f"churn-{round_}")
        page.evaluate("(id) => document.getElementById(id).remove()", f"churn-{round_}")
    page.wait_for_function("window.mediacollect.diagnose().declared === 1")
    after = wait_for(lambda: (d := diagnose(page)) and d["python"]["bindings"] == 1 and
                     d["python"]["tasks"] <= before["python"]["tasks"] and d)
    # Records wait in the shim only until Python acknowledges them: a handful, never a pile.
    assert after["shim"].pop("unhandled") <= 10 and before["shim"].pop("unhandled") <= 10
    assert after["shim"] == before["shim"]
    assert after["python"] == before["python"]

"""Adaptive players in Chromium against the emulator: hls.js, dash.js and Video.js playing the
ffmpeg-made streams (tests/streams.py), each page exposing its player as ``window.player``.

What the tracker must learn from the player itself: the rendition's declared bandwidth on a
switch (forced, or the player's own downswitch when the network is throttled through CDP), a
fatal error with the library's code (then nothing left open), live playheads that follow the
stream's clock, and nothing of the player kept once the viewer has left it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import COLLECT_VIOLATIONS, diagnose, press_play, wait_ready
from tests.browser.origins import foreign_requests
from tests.helpers import Emulator, wait_for
from tests.streams import STREAMS, LiveStream, ensure_vod

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def streams() -> Path:
    return ensure_vod()


def events(emulator: Emulator) -> list[dict[str, Any]]:
    """Every event body the emulator stored, session by session, in the order sent."""
    return [e["body"] for s in emulator.sessions() for e in s["events"]]


def of_type(emulator: Emulator, event_type: str) -> list[dict[str, Any]]:
    return [b for b in events(emulator) if b["eventType"] == event_type]


def bitrate(body: dict[str, Any]) -> int | None:
    return body.get("qoeData", {}).get("media.qoe.bitrate")  # type: ignore[no-any-return]


def last_bitrate(emulator: Emulator) -> int | None:
    """The bitrate of the last event that carried one."""
    return next((b for body in reversed(events(emulator)) if (b := bitrate(body)) is not None), None)


# The tracked element (Video.js renames it: its id goes to the player's own <div>).
VIDEO = "document.querySelector('video[data-mediacollect]')"


def played_on(page: Page, seconds: float) -> None:
    """Wait until the element has played ``seconds`` more (a fact, not a sleep)."""
    at = page.evaluate(f"{VIDEO}.currentTime")
    page.wait_for_function(f"{VIDEO}.currentTime > {at + seconds}")


def watch_page(context: BrowserContext, page: Page) -> list[str]:
    """Record requests to other hosts (aborted) and Content-Security-Policy violations."""
    page.add_init_script(COLLECT_VIOLATIONS)
    return foreign_requests(context)


def assert_clean(page: Page, foreign: list[str]) -> None:
    """The player loaded from this origin only and broke none of the site's policy."""
    assert page.evaluate("globalThis.__violations") == []
    assert foreign == []


def test_hls_a_forced_switch_is_one_bitrate_change_and_leaving_keeps_nothing(
        context: BrowserContext, page: Page, fresh: Emulator, streams: Path) -> None:
    foreign = watch_page(context, page)
    page.goto(fresh.page_url("/examples/hls.html"))
    wait_ready(page)
    levels = page.evaluate("new Promise((ok) => player.levels.length ? ok() : player.on('hlsManifestParsed', ok))"
                           ".then(() => player.levels.map((l) => l.bitrate))")
    assert len(set(levels)) == 3  # three renditions, three declared bandwidths
    page.evaluate("player.currentLevel = 0")  # manual: the player switches only when told
    press_play(page)
    [start] = wait_for(lambda: of_type(fresh, "sessionStart"))
    wait_for(lambda: of_type(fresh, "play"))
    assert bitrate(start) == levels[0]
    assert start["params"]["media.playerName"] == "mediacollect-hls.js"

    page.evaluate("player.currentLevel = 2")
    wait_for(lambda: of_type(fresh, "bitrateChange"))
    page.wait_for_function("player.media.currentTime > 0 && player.levels[player.currentLevel].bitrate"
                           f" === {levels[2]} && player.media.buffered.length > 0")
    played_on(page, 2.0)
    assert [bitrate(b) for b in of_type(fresh, "bitrateChange")] == [levels[2]]
    assert_clean(page, foreign)

    # Leaving: the page destroys its player and removes the element.
    before = diagnose(page)
    assert before["shim"]["players"] == 1 and before["python"]["bindings"] == 1
    page.evaluate("() => { player.destroy(); document.getElementById('video').remove(); window.player = null; }")
    wait_for(lambda: (e := events(fresh)) and e[-1]["eventType"] == "sessionEnd")
    # Gone once the sessionEnd's answer is back: the binding drains its queue, then disarms.
    after = wait_for(lambda: (d := diagnose(page)) and d["python"]["bindings"] == 0 and d["shim"]["armed"] == 0 and d)
    assert after["shim"]["unhandled"] <= 10
    assert {k: after["shim"][k] for k in ("watched", "armed", "declared", "panels", "players")} == dict.fromkeys(
        ("watched", "armed", "declared", "panels", "players"), 0)
    assert after["python"] == {"bindings": 0, "live_objects": 0, "tasks": after["python"]["tasks"],
                               "held_elements": 0, "held_records": 0}
    assert after["python"]["tasks"] <= before["python"]["tasks"]
    assert [b["eventType"] for b in events(fresh)].count("sessionEnd") == 1


def test_hls_a_throttled_network_gives_a_reported_downswitch(
        context: BrowserContext, page: Page, fresh: Emulator, streams: Path) -> None:
    page.goto(fresh.page_url("/examples/hls.html"))
    wait_ready(page)
    levels = page.evaluate("new Promise((ok) => player.levels.length ? ok() : player.on('hlsManifestParsed', ok))"
                           ".then(() => player.levels.map((l) => l.bitrate))")
    # A short buffer, as on a phone: the next fragments are loaded while the network is slow.
    page.evaluate("Object.assign(player.config, {maxBufferLength: 4, maxMaxBufferLength: 4})")
    page.evaluate("player.currentLevel = 2")  # to the top (sessionStart may have the first one)...
    press_play(page)
    wait_for(lambda: [b for b in events(fresh) if bitrate(b) == levels[2]])
    page.wait_for_function(f"player.currentLevel === 2 && {VIDEO}.currentTime > 1")  # playing the top
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    # The fragments ahead come from the network: the player fetched the top rendition's at loopback
    # speed while Python started, and a cached one would load at once, whatever the throttle.
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    # Half of what the top rendition needs, more than the lowest does: the player must drop down
    # on its own, and can go on playing there. (Far below the lowest, the top fragment in flight
    # never finishes and hls.js has no estimate to switch on within a minute.)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 40,
                                                  "downloadThroughput": 1_200_000 / 8, "uploadThroughput": 1_000_000})
    page.evaluate("player.loadLevel = -1")  # ...then the player's own choice (ABR) from the next fragment
    def after_top() -> list[dict[str, Any]]:
        bodies = events(fresh)
        top = next(i for i, b in enumerate(bodies) if bitrate(b) == levels[2])
        return [b for b in bodies[top:] if b["eventType"] == "bitrateChange" and (bitrate(b) or 0) < levels[2]]

    try:
        down = wait_for(after_top, timeout=60)
    except AssertionError as err:
        state = page.evaluate("({level: player.currentLevel, next: player.nextLoadLevel, auto: player.autoLevelEnabled,"
                              " estimate: Math.round(player.bandwidthEstimate), time: player.media.currentTime,"
                              " buffered: player.media.buffered.length && player.media.buffered.end(0)})")
        sent = [(b["eventType"], bitrate(b)) for b in events(fresh)]
        raise AssertionError(f"{err}; player: {state}; sent: {sent}") from None
    assert bitrate(down[0]) in levels[:2]
    assert page.evaluate("player.levels[player.nextLoadLevel].bitrate") < levels[2]


def test_hls_a_manifest_that_answers_404_is_an_error_with_the_library_code_and_no_open_session(
        page: Page, fresh: Emulator, streams: Path) -> None:
    page.goto(fresh.page_url("/examples/hls.html", src="/streams/missing/master.m3u8"))
    wait_ready(page)
    press_play(page)
    ended = wait_for(lambda: (e := events(fresh)) and e[-1]["eventType"] == "sessionEnd" and e)
    assert [b["eventType"] for b in ended] == ["sessionStart", "error", "sessionEnd"]
    error = ended[1]["qoeData"]
    assert error["media.qoe.errorID"] == "hls.js:manifestLoadError"
    assert error["media.qoe.errorSource"] == "player"
    [session] = fresh.get("/_emulator/sessions")
    assert session["closed"] is True
    # Nothing is left to end it again or keep it alive: the page is not armed to end it on close.
    page.wait_for_function("document.querySelectorAll('.request').length >= 3")
    assert page.evaluate("mediacollect.diagnose().armed") == 0


@pytest.mark.parametrize("example", ["hls", "dash"])
def test_a_src_on_another_site_is_refused_and_never_fetched(context: BrowserContext, page: Page, fresh: Emulator,
                                                            example: str) -> None:
    """?src= plays another stream of this site only: a link cannot make the page fetch elsewhere."""
    foreign = watch_page(context, page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(error.message))
    page.goto(fresh.page_url(f"/examples/{example}.html", src="https://streams.example/live/master.m3u8"))
    wait_ready(page)
    wait_for(lambda: errors, what="the page's refusal")
    assert errors == ["?src= must be a path on this site"]
    assert page.evaluate("window.player") is None
    assert_clean(page, foreign)


def test_dash_a_forced_switch_is_one_bitrate_change(context: BrowserContext, page: Page, fresh: Emulator,
                                                    streams: Path) -> None:
    foreign = watch_page(context, page)
    page.goto(fresh.page_url("/examples/dash.html"))
    wait_ready(page)
    page.wait_for_function("player.isReady() && player.getRepresentationsByType('video').length === 3")
    bandwidths = page.evaluate("player.getRepresentationsByType('video').map((r) => r.bandwidth)")
    page.evaluate("player.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: false}}}})")
    press_play(page)
    [start] = wait_for(lambda: of_type(fresh, "sessionStart"))
    wait_for(lambda: of_type(fresh, "play"))
    assert bitrate(start) in bandwidths
    # Settled: the tracker's last bitrate is the rendition playing (dash.js may still have been
    # choosing its first one when it started).
    playing = "player.getCurrentRepresentationForType('video').bandwidth"
    current = wait_for(lambda: (now := page.evaluate(playing)) == last_bitrate(fresh) and now)
    target = next(i for i, b in enumerate(bandwidths) if b != current)
    changes_before = len(of_type(fresh, "bitrateChange"))
    page.evaluate(f"player.setRepresentationForTypeByIndex('video', {target}, true)")
    wait_for(lambda: len(of_type(fresh, "bitrateChange")) > changes_before)
    played_on(page, 2.0)
    assert [bitrate(b) for b in of_type(fresh, "bitrateChange")][changes_before:] == [bandwidths[target]]
    assert_clean(page, foreign)


def test_videojs_is_tracked_with_no_call_in_the_element_it_plays_in(context: BrowserContext, page: Page,
                                                                   fresh: Emulator, streams: Path) -> None:
    foreign = watch_page(context, page)
    page.goto(fresh.page_url("/examples/videojs.html"))
    wait_ready(page)
    # The tracked element is the one Video.js plays in; its own controls are untouched.
    assert page.evaluate(f"player.tech(true).el() === {VIDEO} && player.el().tagName === 'DIV'")
    assert page.evaluate("player.controls() && !!document.querySelector('.vjs-control-bar')")
    assert_clean(page, foreign)
    page.wait_for_function("player.qualityLevels().length === 3")
    bitrates = page.evaluate("Array.from({length: 3}, (_, i) => player.qualityLevels()[i].bitrate)")
    page.evaluate("player.play()")
    [start] = wait_for(lambda: of_type(fresh, "sessionStart"))
    wait_for(lambda: of_type(fresh, "play"))
    assert start["params"]["media.playerName"] == "mediacollect-video.js"
    played_on(page, 1.0)
    current = page.evaluate("player.qualityLevels().selectedIndex")
    target = 0 if current != 0 else 2
    changes_before = len(of_type(fresh, "bitrateChange"))
    # Only one rendition left enabled: Video.js's http-streaming switches to it.
    page.evaluate(f"(() => {{ const q = player.qualityLevels(); for (let i = 0; i < q.length; i++) "
                  f"q[i].enabled = i === {target}; }})()")
    wait_for(lambda: [b for b in of_type(fresh, "bitrateChange")[changes_before:]
                      if bitrate(b) == bitrates[target]], timeout=40)
    assert page.evaluate("player.controls() && !!document.querySelector('.vjs-control-bar')")
    assert_clean(page, foreign)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStream]:
    stream = LiveStream(STREAMS).start()
    yield stream
    stream.stop()


PING_SECONDS = 2
# The live page's pings, shortened for the test: its settings block is edited once the page is
# parsed, long before Python reads it; the page itself is served as any site serves it.
SHORTER_PINGS = f"""if (typeof document !== "undefined") document.addEventListener("DOMContentLoaded", () => {{
  const block = document.getElementById("mediacollect-config");
  block.textContent = JSON.stringify({{...JSON.parse(block.textContent), content_ping_interval: {PING_SECONDS}}});
}});"""


def test_live_hls_pings_with_the_stream_clock_and_a_jump_to_the_live_edge_is_a_seek(
        page: Page, fresh: Emulator, live: LiveStream) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text[:300]))
    page.add_init_script(SHORTER_PINGS)
    page.goto(fresh.page_url("/examples/live.html"))
    wait_ready(page)
    press_play(page)
    try:
        [start] = wait_for(lambda: of_type(fresh, "sessionStart"))
    except AssertionError as err:
        state = page.evaluate("({levels: player.levels.length, duration: String(player.media.duration), "
                              "ready: player.media.readyState, time: player.media.currentTime, "
                              "shim: mediacollect.diagnose()})")
        raise AssertionError(f"{err}; player: {state}; console: {console[-15:]}") from None
    assert start["params"]["media.contentType"] == "live"
    assert start["params"]["media.length"] == 86400
    # The last three of four pings: the first may come before the player knew the stream's clock
    # (the wall clock's second of the day until then).
    pings = wait_for(lambda: (p := of_type(fresh, "ping")) and len(p) >= 4 and p)[-3:]
    for ping in pings:
        time = ping["playerTime"]
        behind = ((time["ts"] % DAY_MS) / 1000 - time["playhead"]) % 86400
        assert 0 < behind < 20  # the stream position, a few segments behind the wall clock
    for earlier, later in zip(pings, pings[1:], strict=False):
        advanced = later["playerTime"]["playhead"] - earlier["playerTime"]["playhead"]
        assert advanced == pytest.approx((later["playerTime"]["ts"] - earlier["playerTime"]["ts"]) / 1000, abs=0.6)

    # Back 3 s into the window, then a jump to the live edge: each a seek (pauseStart, then play
    # where it landed).
    page.evaluate("player.media.currentTime = player.media.currentTime - 3")
    wait_for(lambda: landings(fresh, 1))
    played_on(page, 0.5)
    page.evaluate("player.media.currentTime = player.liveSyncPosition")
    [(_, behind), (_, edge)] = wait_for(lambda: landings(fresh, 2))
    # The jump moved the stream position forward by more than the wall time between the plays.
    assert edge["playhead"] - behind["playhead"] > (edge["ts"] - behind["ts"]) / 1000 + 1.5
    assert ((edge["ts"] % DAY_MS) / 1000 - edge["playhead"]) % 86400 < 20

    # The tab closes: the shim ends the session on its own, with the stream's second of the day
    # where the element is (behind the live edge), not the wall clock's (which would be 0 behind).
    played_on(page, 1.0)
    page.close(run_before_unload=True)
    [end] = wait_for(lambda: of_type(fresh, "sessionEnd"))
    behind = ((end["playerTime"]["ts"] % DAY_MS) / 1000 - end["playerTime"]["playhead"]) % 86400
    assert 1.0 < behind < 20


def landings(emulator: Emulator, count: int) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
    """The first ``count`` seeks: each pauseStart's playerTime with that of the play after it."""
    bodies = events(emulator)
    found = []
    for i, body in enumerate(bodies):
        if body["eventType"] == "pauseStart":
            play = next((b for b in bodies[i + 1:] if b["eventType"] == "play"), None)
            if play is None:
                return None
            found.append((body["playerTime"], play["playerTime"]))
    return found[:count] if len(found) >= count else None

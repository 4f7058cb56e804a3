"""The page dying loses nothing: what the player did is sent by the shim with keepalive on
pagehide, or stored and delivered once by the next page of the origin, whatever the worker was
doing (mediacollect/_handover.py, docs/reliability.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from tests.browser.conftest import (
    READY_TIMEOUT_MS,
    accepted,
    assert_no_duplicates,
    start,
    video,
    wait_ready,
    watch,
)
from tests.helpers import BASIC_PAGE, CHROMIUM, CHROMIUM_ARGS, Emulator, wait_for

OPENED = ["sessionStart", "stateStart:mute", "play"]


def stored_entries(page: Page) -> list[dict[str, Any]]:
    """The undelivered-events entries in the page's localStorage (the shim's storage)."""
    text = page.evaluate("""() => JSON.stringify(Object.keys(localStorage)
        .filter((k) => k.startsWith('mediacollect:outbox:'))
        .map((k) => ({name: k, ...JSON.parse(localStorage.getItem(k))})))""")
    return list(json.loads(text))


def stored_items(page: Page) -> int:
    return sum(len(json.loads(e["text"])["items"]) for e in stored_entries(page))


def open_page(context: BrowserContext, emulator: Emulator) -> Page:
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.goto(emulator.page_url(BASIC_PAGE))
    wait_ready(page)
    return page


def events_of(emulator: Emulator, kind: str) -> list[dict[str, Any]]:
    return [e for s in emulator.sessions() for e in s["events"] if e["event_type"] == kind]


def pause_on_a_slow_api(page: Page, emulator: Emulator) -> dict[str, float]:
    """The API answers events only after 4 s; the viewer unmutes (its stateEnd is then on its
    way for 4 s) and pauses (its pauseStart waits behind it). Returns the pause's moment, with
    the stateEnd still unanswered."""
    start(page, emulator)
    emulator.post("/_emulator/faults", {"delay_ms": 4000, "count": 20, "endpoint": "events"})
    video(page, "v.muted = false")
    page.wait_for_selector('#request-log .request[data-event-type="stateStart"]')
    paused: dict[str, float] = video(page, "(v.pause(), {ts: Date.now(), playhead: v.currentTime})")
    page.wait_for_function("document.getElementById('playback-state').textContent === 'paused'")
    watch(page, 0.5, "the scenario: the tab is closed half a second after the pause")
    assert accepted(emulator) == [OPENED], "the stateEnd must still be on its way when the tab goes"
    return paused


def assert_paused_then_ended(emulator: Emulator, paused: dict[str, float]) -> None:
    wanted = [OPENED + ["stateEnd:mute", "pauseStart", "sessionEnd"]]
    wait_for(lambda: accepted(emulator) == wanted, timeout=30)
    [pause] = events_of(emulator, "pauseStart")
    assert abs(pause["body"]["playerTime"]["ts"] - paused["ts"]) < 100, "the pause keeps its own time"
    assert abs(pause["body"]["playerTime"]["playhead"] - paused["playhead"]) < 0.3
    assert_no_duplicates(emulator)


def test_a_pause_then_a_closed_tab_on_a_slow_api_arrive_once(context: BrowserContext, fresh: Emulator) -> None:
    page = open_page(context, fresh)
    paused = pause_on_a_slow_api(page, fresh)
    page.close(run_before_unload=True)
    assert_paused_then_ended(fresh, paused)
    wait_for(lambda: len(fresh.get("/_emulator/requests")) == 6, timeout=10)  # nothing sent twice


# The hand-over stopped at its n-th send, as Firefox stops a script a closing tab runs (its
# "Script terminated by timeout"): before that send leaves, or just after (the fetch made, the
# script stopped on its way back, as seen at the end of the shim's post).
CUT_THE_HAND_OVER = """
addEventListener("pagehide", () => {
  const real = window.fetch;
  let sends = 0;
  window.fetch = function (...args) {
    if (++sends < %d) return real.apply(this, args);
    window.fetch = real;
    if (!%s) throw new Error("cut short");
    const sent = real.apply(this, args);
    sent.then = () => { throw new Error("cut short"); };
    return sent;
  };
});"""


@pytest.mark.parametrize(("cut_at", "after_it_left"), [(1, False), (2, False), (1, True)],
                         ids=["before-the-first-send", "before-the-second-send", "just-after-the-first-send"])
def test_a_hand_over_cut_short_is_finished_once(context: BrowserContext, fresh: Emulator, cut_at: int,
                                                after_it_left: bool) -> None:
    """Cut before the pauseStart leaves, the rest of the hand-over would be lost; cut after it,
    a hand-over made again from the start would send it twice."""
    context.add_init_script(CUT_THE_HAND_OVER % (cut_at, "true" if after_it_left else "false"))
    page = open_page(context, fresh)
    paused = pause_on_a_slow_api(page, fresh)
    page.close(run_before_unload=True)
    assert_paused_then_ended(fresh, paused)
    wait_for(lambda: len(fresh.get("/_emulator/requests")) == 6, timeout=10)  # nothing sent twice


def test_a_pause_then_a_reload_on_a_slow_api_arrive_once(context: BrowserContext, fresh: Emulator) -> None:
    page = open_page(context, fresh)
    paused = pause_on_a_slow_api(page, fresh)
    page.reload()
    wait_ready(page)
    assert_paused_then_ended(fresh, paused)
    assert stored_entries(page) == [], "everything went with keepalive: nothing for this page to deliver"
    assert len(accepted(fresh)) == 1, "the reloaded page opens no session before a play"


# Python re-arms the page-close plan after it has applied an answer, which is a moment after it
# acknowledged the answer's record: a page going away in between holds a plan that still lists
# the answered request. From the moment the plan lists the stateEnd, it is kept as it is.
KEEP_THE_PLAN = """() => {
  const shim = window.mediacollectShim, arm = shim.arm;
  shim.arm = (key, plan, seq) => {
    if (window.__kept) return;
    arm(key, plan, seq);
    if (plan && JSON.parse(plan).items.some((item) => item.body.includes('"stateEnd"'))) window.__kept = true;
  };
}"""


def test_an_answered_request_in_a_plan_not_yet_re_armed_is_not_sent_again(context: BrowserContext,
                                                                         fresh: Emulator) -> None:
    page = open_page(context, fresh)
    start(page, fresh)
    page.evaluate(KEEP_THE_PLAN)
    fresh.post("/_emulator/faults", {"delay_ms": 1000, "count": 1, "endpoint": "events"})
    video(page, "v.muted = false")
    page.wait_for_function("window.__kept === true")
    page.wait_for_selector('#request-log .request[data-event-type="stateEnd"][data-status="204"]')
    page.wait_for_function("JSON.parse(mediacollectShim.stats()).unhandled === 0")  # the answer acknowledged
    page.close(run_before_unload=True)
    wait_for(lambda: accepted(fresh) == [OPENED + ["stateEnd:mute", "sessionEnd"]], timeout=15)
    assert [r["event_type"] for r in fresh.get("/_emulator/requests")].count("stateEnd") == 1
    assert_no_duplicates(fresh)


# A record the worker cannot have taken in: the page goes away in the same task as the pause
# event (the worker's calls to the page wait for that task), as when a busy worker lags behind.
PAUSE_THEN_LEAVE = """() => {
  const v = document.getElementById('video');
  addEventListener('pause', () => { window.__pausing = Date.now(); }, {capture: true, once: true});
  v.addEventListener('pause', () => {
    window.__paused = {from: window.__pausing, ts: Date.now(), playhead: v.currentTime};
    dispatchEvent(new PageTransitionEvent('pagehide', {persisted: false}));
  }, {once: true});
  v.pause();
}"""


def test_a_record_the_worker_never_took_in_is_sent_from_pythons_template(context: BrowserContext,
                                                                          fresh: Emulator) -> None:
    page = open_page(context, fresh)
    start(page, fresh)
    page.evaluate(PAUSE_THEN_LEAVE)
    wait_for(lambda: accepted(fresh) == [OPENED + ["pauseStart", "sessionEnd"]], timeout=15)
    paused = page.evaluate("window.__paused")
    [pause] = events_of(fresh, "pauseStart")
    assert paused["from"] <= pause["body"]["playerTime"]["ts"] <= paused["ts"], "the pause keeps its own time"
    assert abs(pause["body"]["playerTime"]["playhead"] - paused["playhead"]) < 0.01
    # The worker took the pause in after the page had handed it over: it sends nothing more.
    page.wait_for_function("JSON.parse(mediacollectShim.stats()).unhandled === 0")
    page.close()
    assert len(fresh.get("/_emulator/requests")) == 5
    assert_no_duplicates(fresh)


@pytest.fixture(scope="module")
def caching_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with its back/forward cache, which Playwright turns off by default."""
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                          ignore_default_args=["--disable-back-forward-cache"])
    yield launched
    launched.close()


def test_a_page_back_from_the_back_forward_cache_goes_on_without_duplicates(caching_browser: Browser,
                                                                           fresh: Emulator) -> None:
    """Leaving hands everything over (sessionEnd included); back from the cache, the page's
    worker, which was frozen meanwhile, sends nothing twice, and the next play resumes."""
    context = caching_browser.new_context()
    try:
        page = open_page(context, fresh)
        start(page, fresh)
        fresh.post("/_emulator/faults", {"delay_ms": 3000, "count": 2, "endpoint": "events"})
        video(page, "v.muted = false")
        page.wait_for_function("JSON.parse(mediacollectShim.stats()).flights === 1")  # its stateEnd on its way
        page.evaluate("window.__marker = 'same document'")
        page.goto(fresh.site + "/examples/demo.css")
        wait_for(lambda: accepted(fresh) == [OPENED + ["stateEnd:mute", "sessionEnd"]])
        page.go_back(wait_until="commit")
        assert page.evaluate("window.__marker") == "same document", "the page was not restored from the cache"
        page.wait_for_function("JSON.parse(mediacollectShim.stats()).unhandled === 0")
        video(page, "v.play()")
        wait_for(lambda: len(accepted(fresh)) == 2 and accepted(fresh)[1][-1] == "play")
        assert fresh.sessions()[1]["events"][0]["body"]["params"]["media.resume"] is True
        video(page, "v.pause()")
        wait_for(lambda: accepted(fresh)[1][-1] == "pauseStart")
        assert accepted(fresh)[0] == OPENED + ["stateEnd:mute", "sessionEnd"]
        assert_no_duplicates(fresh)
    finally:
        context.close()


TOGGLE_MUTE = """async (times) => {
  const v = document.getElementById('video');
  for (let i = 0; i < times; i++) {
    v.muted = !v.muted;
    await new Promise((done) => v.addEventListener('volumechange', done, {once: true}));
  }
}"""


def test_a_backlog_past_the_keepalive_budget_is_stored_for_the_next_page(context: BrowserContext,
                                                                         fresh: Emulator) -> None:
    """A page may have only so much in flight with keepalive (64 KiB, a hundred requests): what
    does not fit is stored, and the next page of the origin delivers it, once and in order."""
    page = open_page(context, fresh)
    start(page, fresh)
    fresh.post("/_emulator/faults", {"delay_ms": 150, "count": 2000, "endpoint": "events"})
    toggles = 300  # a state event each
    page.evaluate(TOGGLE_MUTE, toggles)
    page.wait_for_function("Number(document.getElementById('queue-length').textContent) >= 250")
    page.close(run_before_unload=True)
    inspector = context.new_page()
    inspector.goto(fresh.site + "/examples/demo.css")  # the same origin, without the tracker
    # localStorage reaches another tab's process a moment later
    entries = wait_for(lambda: [e for e in stored_entries(inspector) if e["released"]], timeout=10)
    assert len(entries) == 1
    left = stored_items(inspector)
    assert left > 100, "the backlog fit the budget: the test sends too little"
    inspector.close()
    wait_for(lambda: len(fresh.get("/_emulator/requests")) >= toggles + 4 - left, timeout=60)
    fresh.post("/_emulator/faults", None, method="DELETE")
    sent_at_close = len(fresh.get("/_emulator/requests"))
    next_page = open_page(context, fresh)
    states = lambda: sum(1 for name in accepted(fresh)[0] if name.startswith("state"))  # noqa: E731
    wait_for(lambda: states() == toggles + 1 and accepted(fresh)[0][-1] == "sessionEnd", timeout=90)
    assert len(fresh.get("/_emulator/requests")) == sent_at_close + left
    assert_no_duplicates(fresh)
    next_page.wait_for_function("Object.keys(localStorage).length === 0")


def test_two_tabs_never_deliver_each_others_stored_events(context: BrowserContext, fresh: Emulator) -> None:
    """Tab A cannot deliver (the API fails); tab B, opened meanwhile, must not take A's stored
    events while A lives; once A is closed, one of two tabs opened together delivers them."""
    a = open_page(context, fresh)
    start(a, fresh)
    fresh.post("/_emulator/faults", {"status": 503, "count": 10_000, "endpoint": "events"})
    video(a, "v.pause()")
    a.wait_for_selector('#request-log .request[data-status="503"]')
    b = open_page(context, fresh)
    assert stored_items(b) == 1, "A's pause is stored as A's"
    a.close(run_before_unload=True)
    fresh.post("/_emulator/faults", None, method="DELETE")
    c, d = context.new_page(), context.new_page()
    for tab in (c, d):
        tab.goto(fresh.page_url(BASIC_PAGE))
    for tab in (c, d):
        wait_ready(tab)
    wait_for(lambda: accepted(fresh) == [OPENED + ["pauseStart", "sessionEnd"]], timeout=30)
    c.wait_for_function("Object.keys(localStorage).length === 0")
    assert [r["event_type"] for r in fresh.get("/_emulator/requests") if r["status"] < 300].count("pauseStart") == 1
    assert_no_duplicates(fresh)
    assert b.evaluate("document.getElementById('tracker-status').textContent") == "ready"

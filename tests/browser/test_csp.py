"""The demo tracks under the site's Content-Security-Policy (mediacollect_emulator/site.py) with
no violation, in the page or its workers. What the policy allows and why is in the README; that
the page fails without 'unsafe-eval' is in test_sealed_runtime.py."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import COLLECT_VIOLATIONS, READY_TIMEOUT_MS, press_play
from tests.browser.origins import foreign_requests
from tests.helpers import Emulator, wait_for

# Violations are events in the document and in each worker; the console reports them all.


def test_the_demo_tracks_under_its_policy_with_no_violation(context: BrowserContext, page: Page,
                                                            fresh: Emulator) -> None:
    foreign = foreign_requests(context)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(COLLECT_VIOLATIONS)
    response = page.goto(fresh.page_url("/"))
    assert response is not None
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self' 'unsafe-eval'"  # no inline script, no other origin
    assert directives["connect-src"] == f"'self' blob: {fresh.endpoint}"
    expect(page.locator("#tracker-status")).to_have_text("ready", timeout=READY_TIMEOUT_MS)
    press_play(page)  # the demo: a pre-roll from the ad schedule, chapters, captions
    sessions = wait_for(lambda: [s for s in fresh.sessions()
                                 if "adStart" in [e["event_type"] for e in s["events"]]])
    assert page.locator(".request[data-event-type='sessionStart'][data-status='201']").count() == 1
    assert page.text_content("#session-id") == sessions[0]["sid"]
    assert page.evaluate("globalThis.__violations") == []
    assert [line for line in console if "Content Security Policy" in line] == []
    assert foreign == []

"""One thin driver over three browser engines, so one scenario definition runs in each.

- Chromium: Playwright driving Debian's ``/usr/bin/chromium`` (as the rest of the suite).
- Firefox ESR: Debian's ``firefox-esr`` through Marionette, the remote protocol Firefox speaks
  itself (Debian has no geckodriver). The client is the few commands below, over Marionette's
  length-prefixed JSON on a loopback socket.
- WebKitGTK: Debian's ``WebKitWebDriver`` (webkit2gtk-driver) with Selenium, on a virtual X
  display (``Xvfb``): WebKitGTK's MiniBrowser has no headless mode.

Every browser gets a new profile per test (cold caches, empty storage), and a browser per test:
one kept across tests would carry a page's way out (its ``pagehide`` requests, what it stored)
into the next test, and a launch costs about 1 s in Firefox, 0.3 s in WebKit. Scripts are function
bodies (``return ...``); a returned promise is awaited. Nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol, TypeVar

from playwright.sync_api import Browser

from tests.helpers import free_port

_S = TypeVar("_S")
_D = TypeVar("_D")

FIREFOX = os.environ.get("MEDIACOLLECT_FIREFOX", "/usr/bin/firefox-esr")
WEBKIT_DRIVER = os.environ.get("MEDIACOLLECT_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")
MINIBROWSER = os.environ.get("MEDIACOLLECT_MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
XVFB = "/usr/bin/Xvfb"
START_TIMEOUT = 60.0
LAUNCH_TIMEOUT = 20.0  # a WebKit session starts in about 0.3 s (under 1 s in every run here)
LAUNCH_ATTEMPTS = 2
KILL_GRACE = 5.0
CONSOLE_LINES = 200

# A test profile that talks to nothing but loopback: every background service off, and any
# other host sent to a dead proxy (loopback itself bypasses proxies). Media may play unmuted
# without a gesture, as in the Chromium suite.
FIREFOX_PREFS: dict[str, Any] = {
    "app.normandy.enabled": False,
    "app.update.disabledForTesting": True,
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.tabs.warnOnClose": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "dom.push.enabled": False,
    "extensions.update.enabled": False,
    "media.autoplay.default": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.no_proxies_on": "",
    "network.trr.mode": 5,
    "services.settings.server": "http://127.0.0.1:9/none",
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    # Offline means offline for loopback too (by default Firefox keeps localhost reachable).
    "network.disable-localhost-when-offline": True,
    # The page's console (and its workers') in the browser's log: read back when a test fails.
    "devtools.console.stdout.content": True,
}


class Engine(Protocol):
    """What a scenario may do with a browser: the viewer's actions and the test's reads."""

    name: str
    version: str

    def goto(self, url: str) -> None:
        """Navigate; return once the document is parsed (DOMContentLoaded), not at load."""

    def evaluate(self, body: str, *args: Any) -> Any:
        """Run a function body in the page (``arguments[0]``... are ``args``); its result."""

    def reload(self) -> None: ...

    def close_tab(self) -> None:
        """Close the page's tab as a viewer does (pagehide, unload); the browser stays up."""

    def offline(self, on: bool) -> bool:
        """Take the browser's network away (or give it back), as the browser's own offline
        mode does: ``navigator.onLine`` and the ``offline``/``online`` events follow. False if
        the engine's driver cannot do that."""

    def console(self) -> str:
        """What the pages logged to the console (the last lines): to diagnose a failure."""


def wait_until(engine: Engine, condition: str, timeout: float = START_TIMEOUT, *args: Any) -> Any:
    """Poll a JS expression in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while time.monotonic() < deadline:
        try:
            value = engine.evaluate(f"return ({condition});", *args)
        except EngineScriptError:
            value = None  # between documents (a reload, a navigation): ask again
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{engine.name}: {condition} not true within {timeout} s (last: {value!r})")


class EngineScriptError(RuntimeError):
    pass


class BrowserCrashed(RuntimeError):
    """The engine's own content process died (its log says so): not something a page can do
    or a test can wait out. test_engines.py runs such a scenario once more, in a new browser."""


# --- Chromium (Playwright) ---------------------------------------------------------------


class ChromiumEngine:
    name = "chromium"

    def __init__(self, browser: Browser) -> None:
        self.version = browser.version
        self.context = browser.new_context()
        self.messages: list[str] = []
        self.context.on("console", lambda message: self.messages.append(f"{message.type}: {message.text}"))
        self.page = self.context.new_page()
        self.page.set_default_timeout(START_TIMEOUT * 1000)

    def goto(self, url: str) -> None:
        self.page.goto(url, wait_until="domcontentloaded")

    def evaluate(self, body: str, *args: Any) -> Any:
        try:
            return self.page.evaluate(f"(arguments_) => (function () {{ {body} }}).apply(null, arguments_)",
                                      list(args))
        except Exception as err:  # playwright.Error: a navigation destroyed the context
            raise EngineScriptError(str(err)) from err

    def reload(self) -> None:
        self.page.reload(wait_until="domcontentloaded")

    def close_tab(self) -> None:
        keep = self.context.new_page()
        self.page.close(run_before_unload=True)
        self.page = keep

    def offline(self, on: bool) -> bool:
        self.context.set_offline(on)
        return True

    def console(self) -> str:
        return "\n".join(self.messages[-CONSOLE_LINES:])

    def close(self) -> None:
        self.context.close()


# --- Firefox (Marionette) ----------------------------------------------------------------


class Marionette:
    """Marionette's wire: ``<length>:<json>``; commands ``[0, id, name, params]``, answers
    ``[1, id, error, result]``."""

    def __init__(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.settimeout(120)
        self.buffer = b""
        self.next_id = 0
        self._read()  # the greeting: {"applicationType": "gecko", "marionetteProtocol": 3}

    def _read(self) -> Any:
        while b":" not in self.buffer:
            self._fill()
        length, _, rest = self.buffer.partition(b":")
        while len(rest) < int(length):
            self.buffer = length + b":" + rest
            self._fill()
            length, _, rest = self.buffer.partition(b":")
        self.buffer = rest[int(length):]
        return json.loads(rest[:int(length)])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("Marionette closed the connection")
        self.buffer += chunk

    def call(self, command: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        payload = json.dumps([0, self.next_id, command, params or {}]).encode()
        self.sock.sendall(str(len(payload)).encode() + b":" + payload)
        while True:
            kind, msg_id, error, result = self._read()
            if kind == 1 and msg_id == self.next_id:
                break
        if error:
            raise EngineScriptError(f"{command}: {error.get('error')}: {error.get('message')}")
        return result

    def close(self) -> None:
        self.sock.close()


class FirefoxEngine:
    name = "firefox"

    def __init__(self, profile: Path, template: Path | None = None) -> None:
        """A new browser on a new profile; ``template``, a profile a browser has started on
        (``firefox_template``), spares this one Firefox's set-up of a new profile (about 1 s): it
        holds no site's data or cache, as it never opened a page."""
        port = free_port()
        prefs = {**FIREFOX_PREFS, "marionette.port": port, "network.proxy.http_port": free_port(),
                 "network.proxy.ssl_port": free_port()}
        if template is not None:
            shutil.copytree(template, profile, ignore=shutil.ignore_patterns("lock", ".parentlock", "firefox.log"))
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                                 for k, v in prefs.items()))
        self.log_path = profile / "firefox.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            # System access: the offline switch lives in Firefox's chrome scope (below).
            [FIREFOX, "--headless", "--marionette", "--remote-allow-system-access", "--no-remote",
             "--profile", str(profile), "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1"})
        try:
            self.wire = Marionette(port, START_TIMEOUT)
            session = self.wire.call("WebDriver:NewSession",
                                     {"capabilities": {"alwaysMatch": {"pageLoadStrategy": "eager"}}})
        except BaseException:
            self.close()
            raise
        self.version = session["capabilities"]["browserVersion"]
        self.handle = self.wire.call("WebDriver:GetWindowHandle")["value"]

    def goto(self, url: str) -> None:
        self.wire.call("WebDriver:Navigate", {"url": url})

    @classmethod
    def template(cls, profile: Path) -> Path:
        """A profile Firefox has set up (started on it once, about:blank only), to copy."""
        cls(profile).close()
        return profile

    def evaluate(self, body: str, *args: Any) -> Any:
        return self.wire.call("WebDriver:ExecuteScript", {"script": body, "args": list(args)})["value"]

    def reload(self) -> None:
        self.wire.call("WebDriver:Refresh")

    def close_tab(self) -> None:
        keep = self.wire.call("WebDriver:NewWindow", {"type": "tab"})["handle"]
        self.wire.call("WebDriver:CloseWindow")
        self.wire.call("WebDriver:SwitchToWindow", {"handle": keep})
        self.handle = keep

    def offline(self, on: bool) -> bool:
        """The browser's own offline mode ("Work Offline"), set from Marionette's chrome scope.
        It leaves idle keep-alive connections usable (a request on one still goes out), which a
        lost network would not: those are closed too."""
        self.wire.call("Marionette:SetContext", {"value": "chrome"})
        try:
            self.wire.call("WebDriver:ExecuteScript", {"script": (
                "Services.io.manageOfflineStatus = false; Services.io.offline = arguments[0];"
                "if (arguments[0]) Services.obs.notifyObservers(null, 'net:prune-all-connections');"),
                "args": [on]})
        finally:
            self.wire.call("Marionette:SetContext", {"value": "content"})
        return True

    def console(self) -> str:
        return tail(self.log_path)

    def close(self) -> None:
        if hasattr(self, "wire"):
            with suppress(OSError, EngineScriptError):
                self.wire.call("Marionette:Quit", {"flags": ["eForceQuit"]})
            self.wire.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# --- WebKitGTK (WebKitWebDriver + Selenium) ---------------------------------------------


# What MiniBrowser logs when its web process dies (seen once, mid-scenario, in a CI run).
WEBKIT_CRASHED = "WebProcess CRASHED"


class WebKitEngine:
    name = "webkit"

    def __init__(self, display: str, log: Path, *, shared_array_buffer: bool = False, driver: str = WEBKIT_DRIVER,
                 launch_timeout: float = LAUNCH_TIMEOUT) -> None:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        options = Options()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        options.add_argument("--enable-write-console-messages-to-stdout=true")  # into the driver's log
        # "eager" hangs WebKitWebDriver's next command; "normal" returns at the load event, which
        # the page reaches before Python is ready (PyScript starts it asynchronously).
        env = {**os.environ, "DISPLAY": display}
        if shared_array_buffer:
            # Safari exposes SharedArrayBuffer to cross-origin isolated pages; WebKitGTK builds
            # do not (yet), unless JavaScriptCore's option says so.
            env["JSC_useSharedArrayBuffer"] = "1"
        with warnings.catch_warnings():
            # Selenium's own WebKitGTK class still passes an argument Selenium deprecated.
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            self.driver = launch_within(
                lambda: Service(executable_path=driver, env=env, log_output=str(log)),
                lambda service: webdriver.WebKitGTK(options=options, service=service), launch_timeout)
        self.log_path = log
        self.version = self.driver.capabilities.get("browserVersion", "?")
        if shared_array_buffer:
            self.name = "webkit-sab"

    def goto(self, url: str) -> None:
        self.driver.get(url)

    def evaluate(self, body: str, *args: Any) -> Any:
        from selenium.common.exceptions import WebDriverException

        try:
            return self.driver.execute_script(body, *args)
        except WebDriverException as err:
            if WEBKIT_CRASHED in tail(self.log_path):
                raise BrowserCrashed(f"{self.name}: {WEBKIT_CRASHED}, as the browser's log says") from err
            raise EngineScriptError(str(err)) from err

    def reload(self) -> None:
        self.driver.refresh()

    def close_tab(self) -> None:
        old = self.driver.current_window_handle
        self.driver.switch_to.new_window("tab")
        keep = self.driver.current_window_handle
        self.driver.switch_to.window(old)
        self.driver.close()
        self.driver.switch_to.window(keep)

    def offline(self, on: bool) -> bool:
        return False  # WebDriver (classic) has no network emulation, and WebKitWebDriver adds none

    def console(self) -> str:
        return tail(self.log_path)

    def close(self) -> None:
        self.driver.quit()


class LaunchHung(RuntimeError):
    pass


def launch_within(make_service: Callable[[], _S], connect: Callable[[_S], _D], timeout: float,
                  attempts: int = LAUNCH_ATTEMPTS) -> _D:
    """``connect(service)``, in a thread; an attempt that has not returned within ``timeout``
    has its driver process killed with everything under it (the browser), which ends the
    attempt, and the launch is made again. At most ``attempts`` launches, so at most
    ``attempts * (timeout + KILL_GRACE)`` seconds whatever the driver does; an attempt that
    fails is raised at once. Now and then WebKitWebDriver never answers the new session (2
    launches in 162 here: the second was killed at 20 s and the launch made again, which ran)."""
    for _ in range(attempts):
        service = make_service()
        started: dict[str, Any] = {}

        def start(service: _S = service, started: dict[str, Any] = started) -> None:
            try:
                started["driver"] = connect(service)
            except BaseException as err:  # raised below, in the test's thread
                started["error"] = err

        thread = threading.Thread(target=start, daemon=True)
        thread.start()
        thread.join(timeout)
        if not thread.is_alive():
            if "error" in started:
                raise started["error"]
            return started["driver"]  # type: ignore[no-any-return]
        process = getattr(service, "process", None)
        if process is not None:
            kill_tree(process.pid)
        thread.join(KILL_GRACE)  # the attempt fails on its closed connection; a daemon if not
    raise LaunchHung(f"no session within {timeout} s, {attempts} times")


def tail(path: Path) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-CONSOLE_LINES:])
    return ""


def kill_tree(pid: int) -> None:
    """A process this test started, and its descendants (the driver's browser)."""
    children: list[int] = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    for child in children:
        kill_tree(child)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextmanager
def virtual_display() -> Iterator[str]:
    """An Xvfb server on a display number it picks itself (-displayfd): never one in use."""
    if not Path(XVFB).exists():
        raise FileNotFoundError(f"{XVFB} is missing: install Debian's xvfb (`make test` does it)")
    read, write = os.pipe()
    process = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                               pass_fds=[write], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        number = os.read(read, 64).decode().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(10)
        os.close(read)  # only now: Xvfb dies of SIGPIPE if it writes to a closed pipe

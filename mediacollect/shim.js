// mediacollect capture shim: a classic <script src> at the top of <head>, so it runs before the
// page's <video> elements are parsed and no media event is lost while Python boots. Each event
// is stamped when it fires (Date.now(), currentTime) and queued; Python connects with
// mediacollectShim.connect(fn) and receives the queue, then each new record, as JSON strings.
// Capture-phase listeners on document see every <video>/<audio>; each element gets a numeric
// key, and every record names it. Nothing here decides anything about the protocol.
(() => {
  "use strict";
  if (window.mediacollectShim) return;
  const TYPES = ["play", "playing", "pause", "waiting", "seeking", "seeked", "ended", "error", "timeupdate",
                 "durationchange", "loadedmetadata", "volumechange", "enterpictureinpicture",
                 "leavepictureinpicture"];
  // Every record stays here until Python says it has handled it (take/ack): a worker blocked in
  // a request takes in what happened meanwhile before it decides anything time-driven.
  const MAX_QUEUE = 5000;  // records not yet handled; past that the oldest timeupdates go first
  const queue = [], keys = new WeakMap(), watched = new Map(), armed = new Map();
  let nextKey = 1, nextSeq = 1, sink = null, dropped = 0;
  const num = (x) => (Number.isFinite(x) ? x : x === Infinity ? "Infinity" : null);
  const keyOf = (v) => {
    let key = keys.get(v);
    if (!key) { key = nextKey++; keys.set(v, key); }
    return key;
  };
  const stamp = (type, v) => {
    const err = v.error, fs = document.fullscreenElement, q = v.getVideoPlaybackQuality && v.getVideoPlaybackQuality();
    return {
      type, ts: Date.now(), key: keyOf(v), id: v.id || null, src: v.currentSrc || null,
      playhead: num(v.currentTime), duration: num(v.duration), paused: v.paused, ended: v.ended,
      seeking: v.seeking,
      error_code: err ? err.code : null, error_message: err ? err.message : null,
      muted: v.muted || v.volume === 0, fullscreen: !!fs && (fs === v || fs.contains(v)),
      pip: document.pictureInPictureElement === v,
      captions: [...v.textTracks].some((t) => t.mode === "showing" && t.kind !== "chapters" && t.kind !== "metadata"),
      dropped: q ? q.droppedVideoFrames : null, frames: q ? q.totalVideoFrames : null,
    };
  };
  const deliver = (record) => {
    const seq = nextSeq++, item = { seq, record, text: JSON.stringify({ seq, ...record }) };
    if (queue.length >= MAX_QUEUE) {
      const i = queue.findIndex((q) => q.record.type === "timeupdate");
      queue.splice(i < 0 ? 0 : i, 1);
      dropped++;
    }
    queue.push(item);
    if (sink) sink(item.text);
  };
  const acknowledge = (seq) => {
    let n = 0;
    while (n < queue.length && queue[n].seq <= seq) n++;
    queue.splice(0, n);
  };
  const signal = (type, extra) => deliver({ type, ts: Date.now(), ...extra });

  // Per-element listeners the document cannot see: caption changes (on the track list) and the
  // chapter tracks (cues load only once a track's mode is not "disabled"; the <track> children
  // may be parsed after the element is first seen, hence "addtrack").
  const sendCues = (v, t) => signal("chapters", { key: keyOf(v), cues: [...(t.track.cues || [])].map(
    (c) => ({ start: c.startTime, end: c.endTime, text: c.text })) });
  const enableChapters = (v) => {
    for (const t of v.querySelectorAll("track[kind=chapters]")) {
      if (t.track.mode === "disabled") t.track.mode = "hidden";
      else if (t.readyState === 2) sendCues(v, t);
    }
  };
  document.addEventListener("load", (e) => {  // a <track> finished loading (capture: it does not bubble)
    const t = e.target, v = t instanceof HTMLTrackElement ? t.parentElement : null;
    if (v && t.kind === "chapters" && watched.has(keys.get(v))) sendCues(v, t);
  }, true);
  const watch = (v) => {
    const key = keyOf(v);
    if (watched.has(key)) return key;
    const onTracks = () => deliver(stamp("statechange", v));
    const onAddTrack = () => enableChapters(v);
    v.textTracks.addEventListener("change", onTracks);
    v.textTracks.addEventListener("addtrack", onAddTrack);
    watched.set(key, { v, forget() {
      v.textTracks.removeEventListener("change", onTracks);
      v.textTracks.removeEventListener("addtrack", onAddTrack);
    } });
    enableChapters(v);
    return key;
  };
  const unwatch = (key) => {
    const entry = watched.get(key);
    if (entry) { entry.forget(); watched.delete(key); }
    armed.delete(key);
    panels.delete(key);
  };

  // The binding's page side (browser.py). Every access from the worker waits for the main
  // thread, so one call reads all that binding an element needs, and one call renders each
  // panel update. Panels are found by data-panel fields inside the element the player names
  // (data-mediacollect-panel="<id>"); key 0 is the page itself (#tracker-error). All text is
  // set as text, never HTML: it comes from users (metadata) and servers (error messages).
  const panels = new Map();  // key -> {state, sid, playhead, queue, log, error: element}
  const MAX_LOG_LINES = 500, MAX_NOTE_LINES = 6;
  const byId = (id) => (id ? document.getElementById(id) : null);
  const textOf = (id) => byId(id)?.textContent ?? null;
  const describe = (v, key) => {
    const fields = {}, container = byId(v.dataset.mediacollectPanel);
    for (const f of container ? container.querySelectorAll("[data-panel]") : []) fields[f.dataset.panel] ??= f;
    panels.set(key, fields);
    const schedule = (v.dataset.adSchedule || "").trim();
    return JSON.stringify({
      key, tag: v.tagName.toLowerCase(), id: v.id || null, declared: v.hasAttribute("data-mediacollect"),
      settings: v.getAttribute("data-mediacollect"), dataset: { ...v.dataset },
      src: v.currentSrc || v.getAttribute("src"), panel: Object.keys(fields),
      blocks: schedule.startsWith("#") ? { [schedule.slice(1)]: textOf(schedule.slice(1)) } : {},
    });
  };
  const note = (key, text) => {
    const box = key ? panels.get(key)?.error : byId("tracker-error");
    if (!box) return;
    const line = document.createElement("div");
    line.textContent = text;
    box.append(line);
    while (box.childElementCount > MAX_NOTE_LINES) box.children[1].remove();  // the first is usually the cause
    box.hidden = false;
  };
  const log = (key, entry) => {
    const box = panels.get(key)?.log;
    if (!box) return;
    const { text, error, type, status } = JSON.parse(entry), item = document.createElement("li");
    item.className = error ? "request error" : "request";
    item.dataset.eventType = type;
    item.dataset.status = status;
    item.textContent = text;
    box.append(item);
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
  };

  const onMedia = (e) => {
    const v = e.target;
    if (v instanceof HTMLMediaElement) deliver(stamp(e.type, v));
  };
  for (const type of TYPES) document.addEventListener(type, onMedia, true);
  document.addEventListener("fullscreenchange", () => {
    for (const { v } of watched.values()) deliver(stamp("statechange", v));
  });
  // The ad skip buttons the binding puts beside an element (data-mediacollect-skip="<key>").
  document.addEventListener("click", (e) => {
    const button = e.target instanceof Element && e.target.closest("[data-mediacollect-skip]");
    if (button) signal("adskip", { key: Number(button.dataset.mediacollectSkip) });
  });

  // Declarative tracking: <video data-mediacollect> elements, including ones added later.
  const SELECTOR = "video[data-mediacollect], audio[data-mediacollect]";
  const declared = new Set();
  const scan = () => {
    for (const v of document.querySelectorAll(SELECTOR)) {
      const key = keyOf(v);
      if (!declared.has(key)) { declared.add(key); watch(v); signal("attach", { key, id: v.id || null }); }
    }
    for (const key of [...declared]) {
      const entry = watched.get(key);
      if (!entry || !entry.v.isConnected || !entry.v.matches(SELECTOR)) {
        declared.delete(key);
        signal("detach", { key });
      }
    }
  };
  // Without cross-origin isolation (no COOP/COEP headers) a PyScript worker cannot reach the
  // page: our own <script type="py" worker data-mediacollect> is moved to the main thread before
  // PyScript (a deferred module) sees it. Python then says so on the page (browser.py). An
  // isolated page without SharedArrayBuffer (WebKitGTK) is the same: the worker would hang.
  const demote = () => {
    if (window.crossOriginIsolated && typeof SharedArrayBuffer === "function") return;
    const why = window.crossOriginIsolated ? "this browser offers no SharedArrayBuffer, even to an isolated page"
      : "this page is not cross-origin isolated (send Cross-Origin-Opener-Policy: same-origin and "
        + "Cross-Origin-Embedder-Policy: credentialless)";
    for (const script of document.querySelectorAll("script[type=py][worker][data-mediacollect]")) {
      script.removeAttribute("worker");
      console.warn(`mediacollect: ${why}; Python runs on the main thread, which freezes the page while it starts.`);
    }
  };
  // Only mutations that add or remove media (or our script) matter: the panels' own text
  // updates, several a second, must not cost a document-wide query each.
  const WANTED = "video, audio, script[type=py]";
  const matters = (node) => node.nodeType === 1 && (node.matches(WANTED) || node.querySelector(WANTED) !== null);
  const relevant = (records) => records.some((r) => r.type === "attributes" || [...r.addedNodes].some(matters)
                                                    || [...r.removedNodes].some(matters));
  const observer = new MutationObserver((records) => { if (relevant(records)) { demote(); scan(); } });
  observer.observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-mediacollect"] });

  // The page is going away: the worker may die with it, so the shim itself sends sessionEnd,
  // with a keepalive fetch, for each session Python armed it with: the events URL, the body
  // Python prepared (only its ts and playhead slots are filled here), the frozen ad playhead
  // and whether the playhead is live (the second of the day).
  addEventListener("pagehide", () => {
    for (const [key, { v }] of watched) {
      const spec = armed.get(key);
      if (spec && !spec.pending) {
        const ts = Date.now();
        const playhead = spec.frozen ?? (spec.live ? (ts % 86400000) / 1000 : v.currentTime);
        const body = spec.body.replace('"@ts"', String(ts)).replace('"@playhead"', String(Math.round(playhead * 1000) / 1000));
        fetch(spec.url, { method: "POST", keepalive: true, credentials: "omit",
                          headers: { "Content-Type": "application/json" }, body });
        armed.delete(key);
        deliver(stamp("pageclosed", v));
      } else {
        deliver(stamp("teardown", v));
      }
    }
  });
  // Python failing to start (a wheel the browser refused, the runtime unreachable) reaches the
  // page only as an uncaught error thrown from the vendored runtime's files: until Python
  // connects, the shim shows such an error in the page's own panel, as text.
  const vendor = new URL("../", document.currentScript?.src || location.href).href;
  const failedToStart = (error, file) => {
    if (sink || !`${error?.stack ?? ""} ${file ?? ""}`.includes(vendor)) return;
    const status = byId("tracker-status");
    if (status) status.textContent = "error";
    note(0, `Python could not start: ${error?.message ?? error}`);
  };
  addEventListener("unhandledrejection", (e) => failedToStart(e.reason));
  addEventListener("error", (e) => failedToStart(e.error, e.filename));
  addEventListener("online", () => signal("online"));
  addEventListener("pageshow", (e) => { if (e.persisted) signal("pageshow"); });
  document.addEventListener("visibilitychange", () => signal(document.hidden ? "hidden" : "visible"));
  // The page's consent banner calls these (tracking may start held: "consent": "pending").
  window.mediacollect = {
    optIn: () => signal("opt-in"),
    optOut: () => signal("opt-out"),
    // Counts from both sides, to check nothing piles up: this shim's, then (a moment later, in
    // mediacollectShim.diagnosis) the worker's: bindings, live trackers, tasks, held records.
    diagnose: () => { signal("diagnose"); return JSON.parse(window.mediacollectShim.stats()); },
    // The bitrate hook for players that know it (hls.js, dash.js, Shaka): bits per second.
    reportBitrate: (element, bitrate) => {
      if (element instanceof HTMLMediaElement && Number.isFinite(bitrate) && bitrate >= 0) {
        signal("bitrate", { key: keyOf(element), bitrate: Math.round(bitrate) });
      }
    },
    // What a player library knows about the element it plays in (players.js): a kind and plain
    // facts (numbers, strings, booleans), stamped with the element's state like a media event.
    report: (element, kind, facts) => {
      if (element instanceof HTMLMediaElement && typeof kind === "string") {
        deliver({ ...stamp("player", element), report: kind, facts: facts ?? {} });
      }
    },
  };
  window.mediacollectShim = {
    armedAt: performance.now(),
    // Python's side of the protocol: which element a selector or element is (its key, watched
    // from now on), the element for a key, forgetting one, and the page-close spec per key.
    track(target) {
      const v = typeof target === "string" ? document.querySelector(target) : target;
      return v instanceof HTMLMediaElement ? watch(v) : 0;
    },
    element: (key) => watched.get(key)?.v ?? null,
    untrack: unwatch,
    // The page's settings block, ?endpoint= and base URL, with the keys of the declared elements.
    page: () => JSON.stringify({
      settings: textOf("mediacollect-config"), endpoint: new URLSearchParams(location.search).get("endpoint"),
      base: document.baseURI, declared: [...document.querySelectorAll(SELECTOR)].map(watch) }),
    describe(key) { const v = watched.get(key)?.v; return v ? describe(v, key) : null; },
    show(key, name, text) { const field = panels.get(key)?.[name]; if (field) field.textContent = text; },
    text(id, text) { const el = byId(id); if (el) el.textContent = text; },
    note, log,
    stored: (name) => localStorage.getItem(name),
    store(name, text) { if (text == null) localStorage.removeItem(name); else localStorage.setItem(name, text); },
    arm(key, spec) { if (spec) armed.set(key, JSON.parse(spec)); else armed.delete(key); },
    stats: () => JSON.stringify({ watched: watched.size, armed: armed.size, declared: declared.size,
                                  panels: panels.size, dropped, unhandled: queue.length,
                                  isolated: !!window.crossOriginIsolated,
                                  sharedMemory: typeof SharedArrayBuffer === "function" }),
    // mediacollect.diagnose() in the console: Python answers with its own counts (see browser.py).
    diagnosis: null,
    connect(fn) {
      // Replay after this call returns, so Python is not re-entered while it waits on it.
      setTimeout(() => { for (const item of queue) fn(item.text); sink = fn; }, 0);
    },
    // Python handled every record up to seq: forget them. take() also hands over the rest, in
    // order, as one JSON array (one round trip from a worker, whatever it missed).
    ack: acknowledge,
    take(seq) { acknowledge(seq); return `[${queue.map((item) => item.text).join(",")}]`; },
  };
  // Elements already parsed when this runs (a shim added late); the observer sees the rest.
  if (document.body) scan();
})();

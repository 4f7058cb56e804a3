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
  // Python acknowledges a record once it has handled it and re-armed every plan (below): the
  // plans then reflect every record up to seq.
  const acknowledge = (seq) => {
    let n = 0;
    while (n < queue.length && queue[n].seq <= seq) {
      const flight = queue[n].record.type === "answer" && flights.get(queue[n].record.id);
      if (flight) flight.acked = true;
      n++;
    }
    queue.splice(0, n);
    for (const armedPlan of armed.values()) armedPlan.through = Math.max(armedPlan.through, seq);
    settle();
  };
  // A request's outcome is forgotten only once Python has seen it (its answer acknowledged) and
  // no armed plan lists its body any more: Python re-arms after it applied the outcome, a moment
  // after the acknowledgement, and a page going away in between must still know the request
  // left, or the stale plan would send it again.
  const settle = () => {
    for (const [id, flight] of flights) {
      if (flight.acked && ![...armed.values()].some((a) => a.bodies.has(flight.body))) flights.delete(id);
    }
  };
  const signal = (type, extra) => deliver({ type, ts: Date.now(), ...extra });

  // Python's requests leave from here, the page's own thread, as fetch with keepalive: a request
  // under way then outlives the page (and the worker with it), so the page going away neither
  // cuts it off nor leaves it unknown whether it arrived. The answer comes back as a record.
  // Browsers allow 64 KiB of keepalive bodies in flight per page (the Fetch standard), and
  // Chromium a few hundred such requests; past either budget a request goes without keepalive
  // (and the page going away would cut it off: see pagehide).
  const KEEPALIVE_BYTES = 64 * 1024, KEEPALIVE_REQUESTS = 100;
  const flights = new Map();  // request id -> {body, keepalive, outcome: null until answered, acked}
  let keptAlive = 0, keptAliveRequests = 0, hidden = false;
  const encoder = new TextEncoder();
  const fits = (size) => keptAlive + size <= KEEPALIVE_BYTES && keptAliveRequests < KEEPALIVE_REQUESTS;
  // ``note.sent`` is set the moment the request has left (no call in between, so nothing can
  // stop the script there: see the page-close hand-over).
  const post = (url, body, headers, timeoutMs, onOutcome, note) => {
    const size = encoder.encode(body).length, keepalive = fits(size);
    if (keepalive) { keptAlive += size; keptAliveRequests++; }
    const sending = fetch(url, { method: "POST", body, headers, keepalive, credentials: "omit", cache: "no-store",
                                 signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined });
    if (note) note.sent = true;
    sending
      .then(async (r) => ({ status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() }))
      .catch((e) => ({ error: `${e?.name ?? "Error"}: ${e?.message ?? e}` }))
      .then((outcome) => {
        if (keepalive) { keptAlive -= size; keptAliveRequests--; }
        onOutcome?.(outcome);
      });
    return keepalive;
  };

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

  // Undelivered events stored for a later page of this origin (a reload, the next visit): one
  // localStorage entry per store name and page, "<name>@<page>", holding {released, expires,
  // text}, the text being Python's. A page's entries are its own until its pagehide releases
  // them; a page claims released ones (once, under a Web Lock, so two tabs never both do) as
  // "<name>@<itself>~<their page>", Python restores those (stored()) and writes back what it
  // owes in one entry (store()), which replaces them.
  const PAGE_ID = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`.replace(".", "");
  const STORE_PREFIX = "mediacollect:outbox:";
  const ownerOf = (name) => { const at = name.lastIndexOf("@"); return at < 0 ? null : name.slice(at + 1); };
  const readEntry = (name) => { try { return JSON.parse(localStorage.getItem(name)); } catch { return null; } };
  const storeNames = () => {
    const names = [];
    try { for (let i = 0; i < localStorage.length; i++) if (localStorage.key(i).startsWith(STORE_PREFIX)) names.push(localStorage.key(i)); }
    catch { /* storage refused (a sandboxed frame, a privacy setting): nothing is stored */ }
    return names;
  };
  const writeEntry = (name, value) => {
    try {
      if (value) localStorage.setItem(name, JSON.stringify(value)); else localStorage.removeItem(name);
      return true;
    } catch { return false; }
  };
  const mine = (name) => { const owner = ownerOf(name); return owner === PAGE_ID || owner?.startsWith(`${PAGE_ID}~`); };
  const withStorageLock = (fn) => (navigator.locks
    ? navigator.locks.request("mediacollect:outbox", async () => fn()).catch(() => fn())
    : Promise.resolve().then(fn));
  // Claim what other pages released (and drop what is past its expiry): once at start.
  const claim = () => withStorageLock(() => {
    for (const name of storeNames()) {
      const value = readEntry(name), owner = ownerOf(name);
      if (!value || !owner || Date.now() > value.expires) { writeEntry(name, null); continue; }
      if (value.released && owner.split("~")[0] !== PAGE_ID) {
        const base = name.slice(0, name.lastIndexOf("@"));
        if (writeEntry(`${base}@${PAGE_ID}~${owner.replace(/~/g, "-")}`, { ...value, released: false })) writeEntry(name, null);
      }
    }
  });
  claim().then(() => { if (sink) signal("claimed"); });
  // Back from the back/forward cache: take back what this page released, unless another page
  // claimed it meanwhile; Python restores it.
  const reclaim = () => withStorageLock(() => {
    for (const name of storeNames()) {
      const value = readEntry(name);
      if (value?.released && ownerOf(name) === PAGE_ID) {
        if (writeEntry(`${name}~${PAGE_ID}`, { ...value, released: false })) writeEntry(name, null);
      }
    }
  });
  const release = () => {
    for (const name of storeNames()) {
      const value = readEntry(name);
      if (value && !value.released && mine(name)) writeEntry(name, { ...value, released: true });
    }
  };

  // The page is going away, and the worker may die with it: for each element, the shim carries
  // out the plan Python armed it with (mediacollect/_handover.py says what each part means).
  // Each undelivered event is sent now with keepalive or stored for a later page, in order, and
  // exactly once: a request under way is left to its keepalive, one already answered is sent
  // again only if its answer says "retry", and once one event is stored every later one is.
  // Requests sent together may arrive in any order: no more go at once than the server's reorder
  // window puts back in order (plan.window, with the one under way).
  const fill = (text, slots) => text.replace(/"@(\w+)"/g, (slot, name) => (name in slots ? JSON.stringify(slots[name]) : slot));
  const handOver = (key, { plan, through }, v) => {
    const stored = [];
    const all = [...flights.values(), ...[...leaving.values()].filter((out) => out.sent)];
    const sent = new Map(all.map((flight) => [flight.body, flight]));
    const underWay = (flight) => flight.keepalive && !flight.outcome;
    let sending = plan.send && navigator.onLine !== false, last = plan.after;
    let room = plan.window - all.filter(underWay).length;
    const go = (url, body, entry) => {
      // Answered: not again. On its way: not again while the API answers; while it fails, that
      // attempt will likely fail too, unseen, so it is also stored (at least once).
      const flight = sent.get(body);
      const answered = flight?.outcome?.status && !plan.retry.includes(flight.outcome.status);
      if (answered || (flight && underWay(flight) && plan.send)) return;
      if (sending && url && room > 0 && fits(encoder.encode(body).length)) {
        // Noted before it leaves, marked sent the moment it left: a run stopped in between
        // (Firefox stops a script at a function's end too) leaves the finishing run to know.
        const out = { body, keepalive: true, outcome: null, sent: false };
        leaving.set(body, out);
        post(url, body, plan.headers, 0, (outcome) => { out.outcome = outcome; }, out);
        room--;
        return;
      }
      sending = false;
      stored.push(entry);
    };
    const emit = (template, ts, playhead) => {
      last = Math.max(ts, last + 1);
      const clock = plan.clock, stream = clock?.origin ?? null;
      const at = template.frozen ?? (!clock ? playhead
        : ((stream === null ? last : stream + Math.floor(playhead * 1000 + 0.5)) % 86400000) / 1000);
      // Halves up, as _wire.to_millisecond: the same operations give Python's double exactly.
      const slots = { ts: last, playhead: Math.floor(at * 1000 + 0.5) / 1000 };
      const body = fill(template.body, slots);
      go(plan.url, body, fill(template.entry, { ...slots, body }));
    };
    for (const item of plan.items) go(item.url, item.body, item.entry);
    // The records the worker had not taken in: the first that changes playback (pause, play...)
    // by its template, and every change of the element's states (mute...), ends first.
    let typed = false;
    const flags = Object.fromEntries(Object.entries(plan.states).map(([flag, s]) => [flag, s.on]));
    for (const { seq, record } of queue) {
      if (seq <= through || record.key !== key) continue;
      const apply = (templates) => { for (const t of templates) emit(t, record.ts + t.dt, record.playhead ?? 0); };
      if (!typed && plan.next[record.type]) { typed = true; apply(plan.next[record.type]); }
      for (const turn of ["end", "start"]) {
        for (const [flag, state] of Object.entries(plan.states)) {
          const on = record[flag] === true;
          if (flag in record && on !== flags[flag] && on === (turn === "start")) { flags[flag] = on; apply(state[turn]); }
        }
      }
    }
    if (!closedAt.has(key)) closedAt.set(key, { ts: Date.now(), playhead: v.currentTime });
    if (plan.end) emit(plan.end, closedAt.get(key).ts, closedAt.get(key).playhead);
    const text = stored.length ? plan.snapshot.replace('"@items"', `[${stored.join(",")}]`) : null;
    writeEntry(`${plan.store}@${PAGE_ID}`, text && { released: true, expires: Date.now() + plan.keep, text });
    for (const name of storeNames()) if (name.startsWith(`${plan.store}@${PAGE_ID}~`)) writeEntry(name, null);
  };
  // The element's page-close plan (null: none), reflecting every record up to seq.
  const arm = (key, plan, seq) => {
    if (plan) {
      const parsed = JSON.parse(plan);
      armed.set(key, { plan: parsed, through: seq, bodies: new Set(parsed.items.map((item) => item.body)) });
    } else {
      armed.delete(key);
    }
    settle();
  };
  // Firefox may stop a script that a closing tab runs, wherever it is ("Script terminated by
  // timeout" in its log: in the hand-over, for about 1 closed tab in 3 here); the listeners
  // after it still run. So a listener behind this one finishes a hand-over cut short, from the
  // same plan: what left already (leaving) is not sent again, the close keeps its first moment
  // (closedAt), what is stored is written whole again.
  const leaving = new Map(), closedAt = new Map();  // bodies sent on the way out; per element
  let handedOver = true;
  const onPageHide = () => {
    handedOver = false;
    hidden = true;
    for (const [key, { v }] of watched) {
      const armedPlan = armed.get(key);
      if (armedPlan) {
        handOver(key, armedPlan, v);
        armed.delete(key);
        deliver(stamp("pageclosed", v));
      } else {
        deliver(stamp("teardown", v));
      }
    }
    release();
    handedOver = true;
  };
  addEventListener("pagehide", onPageHide);
  addEventListener("pagehide", () => { if (!handedOver) onPageHide(); });
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
  addEventListener("pageshow", (e) => {
    if (!e.persisted) return;
    hidden = false;
    leaving.clear();
    closedAt.clear();
    reclaim().then(() => signal("pageshow"));
  });
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
    pageFacts: () => JSON.stringify({
      settings: textOf("mediacollect-config"), endpoint: new URLSearchParams(location.search).get("endpoint"),
      base: document.baseURI, declared: [...document.querySelectorAll(SELECTOR)].map(watch) }),
    describe(key) { const v = watched.get(key)?.v; return v ? describe(v, key) : null; },
    show(key, name, text) { const field = panels.get(key)?.[name]; if (field) field.textContent = text; },
    text(id, text) { const el = byId(id); if (el) el.textContent = text; },
    note, log,
    // What other pages left for this store name and this page claimed (JSON array of texts);
    // what this page owes under it now (replacing what it claimed), kept until expires.
    stored: (name) => JSON.stringify(storeNames().filter((n) => n.startsWith(`${name}@${PAGE_ID}~`))
      .map((n) => readEntry(n)?.text).filter((text) => typeof text === "string")),
    store(name, text, expires) {
      if (hidden) return;  // what the page owes was handed over on pagehide (reclaimed on pageshow)
      writeEntry(`${name}@${PAGE_ID}`, text == null ? null : { released: false, expires, text });
      for (const n of storeNames()) if (n.startsWith(`${name}@${PAGE_ID}~`)) writeEntry(n, null);
    },
    arm,
    // Send one request (see post); false when the page is hidden (its plan was carried out: the
    // worker, still running or thawed, must not send what the plan sent).
    send(id, url, body, headers, timeoutMs) {
      if (hidden) return false;
      const flight = { body, keepalive: false, outcome: null, acked: false };
      flights.set(id, flight);
      flight.keepalive = post(url, body, JSON.parse(headers), timeoutMs, (outcome) => {
        flight.outcome = outcome;
        signal("answer", { id, ...outcome });
      });
      return true;
    },
    stats: () => JSON.stringify({ watched: watched.size, armed: armed.size, declared: declared.size,
                                  panels: panels.size, dropped, unhandled: queue.length, flights: flights.size,
                                  keptAlive,
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

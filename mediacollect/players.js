// mediacollect's adapters for adaptive players: hls.js, dash.js and Video.js. A classic
// <script src> after shim.js and after the player library, on pages that use a player (the
// others never load it). Each adapter listens to the player's own events and reports plain
// facts about the element the player plays in, through window.mediacollect.report(element,
// kind, facts): which rendition plays (its declared bandwidth in bits/s, size, frame rate), a
// stall and its end, a fatal error (the library's own code), dropped frames, the stream's clock
// (the wall time of the element's position 0, from the playlist's program date-times) and the
// player's end. Python decides what any of it means for the protocol (mediacollect/_player.py).
//
//   Video.js: nothing to do (every player is found as it is set up: videojs.hook("setup")).
//   hls.js, dash.js: mediacollect.attach(player), once, before or after it has an element.
//   mediacollect.detach(player) stops listening (a destroyed player is detached by itself).
(() => {
  "use strict";
  const api = window.mediacollect;
  if (!api || typeof api.report !== "function" || api.attach) return;  // no shim, or loaded twice
  const attached = new Map();  // player -> {off(), element()}

  const fps = (rate) => {  // "24", "24/1", "30000/1001", 24 -> frames per second, or null
    if (typeof rate === "number") return Number.isFinite(rate) && rate > 0 ? rate : null;
    if (typeof rate !== "string" || !rate) return null;
    const [num, den] = rate.split("/").map(Number);
    const value = den ? num / den : num;
    return Number.isFinite(value) && value > 0 ? value : null;
  };
  const rendition = (bandwidth, width, height, frameRate) => ({
    bandwidth: Number.isFinite(bandwidth) ? Math.round(bandwidth) : null,
    width: Number.isFinite(width) ? width : null, height: Number.isFinite(height) ? height : null,
    fps: fps(frameRate),
  });
  const text = (value) => (value == null ? null : String(value).slice(0, 300));

  // Listens through `on` and undoes every listener in off(): nothing of the player is kept
  // once it is detached (the leak counts in mediacollect.diagnose() include `players`).
  const listen = (player, library, findElement, subscribe) => {
    const handlers = [];
    const report = (kind, facts = {}) => {
      const element = findElement();
      if (element instanceof HTMLMediaElement) api.report(element, kind, { library, ...facts });
    };
    const entry = {
      element: findElement,
      off() { for (const undo of handlers.splice(0)) undo(); attached.delete(player); },
    };
    attached.set(player, entry);
    subscribe(report, (undo) => handlers.push(undo), () => {
      report("ended");  // the player was destroyed: the viewing is over
      entry.off();
    });
    return entry;
  };

  const HLS_STALL = "bufferStalledError";
  const attachHls = (hls) => {
    const E = hls.constructor.Events;
    let origin = null;
    return listen(hls, "hls.js", () => hls.media, (report, keep, destroyed) => {
      const on = (event, fn) => { hls.on(event, fn); keep(() => hls.off(event, fn)); };
      const level = (index) => {
        const l = hls.levels?.[index];
        if (l) report("rendition", rendition(l.bitrate, l.width, l.height, l.frameRate ?? l.attrs?.["FRAME-RATE"]));
      };
      on(E.LEVEL_SWITCHED, (_, data) => level(data.level));
      on(E.MEDIA_ATTACHED, () => { if (hls.currentLevel >= 0) level(hls.currentLevel); });
      on(E.LEVEL_LOADED, (_, data) => { if (data.details?.live) report("stream", { live: true }); });
      on(E.FRAG_CHANGED, (_, data) => {
        const frag = data.frag;
        if (!Number.isFinite(frag?.programDateTime) || !Number.isFinite(frag.start)) return;
        const next = Math.round(frag.programDateTime - frag.start * 1000);
        if (origin === null || Math.abs(next - origin) > 100) {
          origin = next;
          report("stream", { live: !!hls.levels?.[frag.level]?.details?.live, origin });
        }
      });
      on(E.ERROR, (_, data) => {
        if (data.details === HLS_STALL) report("stall");
        else if (data.fatal) {
          report("error", { code: text(data.details), kind: text(data.type), fatal: true,
                            message: text(data.error?.message ?? data.reason ?? data.response?.text) });
        }
      });
      if (E.STALL_RESOLVED) on(E.STALL_RESOLVED, () => report("stall-end"));
      on(E.FPS_DROP, (_, data) => report("frames", { dropped: data.totalDroppedFrames }));
      on(E.DESTROYING, destroyed);
      if (hls.media && hls.currentLevel >= 0) level(hls.currentLevel);
    });
  };

  const attachDash = (player) => {
    const E = window.dashjs.MediaPlayer.events;
    const element = () => { try { return player.getVideoElement(); } catch { return null; } };
    return listen(player, "dash.js", element, (report, keep, destroyed) => {
      const on = (event, fn) => { player.on(event, fn); keep(() => player.off(event, fn)); };
      const representation = (r) => { if (r) report("rendition", rendition(r.bandwidth, r.width, r.height, r.frameRate)); };
      on(E.QUALITY_CHANGE_RENDERED, (e) => { if (e.mediaType === "video") representation(e.newRepresentation); });
      on(E.STREAM_INITIALIZED, () => {
        try { representation(player.getCurrentRepresentationForType("video")); } catch { /* no video */ }
        if (player.isDynamic?.()) report("stream", { live: true });
      });
      on(E.BUFFER_EMPTY, (e) => { if (!e.mediaType || e.mediaType === "video") report("stall"); });
      on(E.PLAYBACK_WAITING, () => report("stall"));
      on(E.ERROR, (e) => {
        const error = e.error ?? {};
        report("error", { code: text(error.code ?? e.event?.code ?? "unknown"), fatal: true,
                          message: text(error.message ?? e.event?.message) });
      });
      // dash.js announces no end of its own: its reset() (and destroy()) are where it lets go.
      for (const name of ["reset", "destroy"]) {
        const original = player[name];
        if (typeof original !== "function") continue;
        player[name] = function (...args) { destroyed(); return original.apply(this, args); };
        keep(() => { player[name] = original; });
      }
    });
  };

  const attachVideojs = (player) => listen(player, "video.js", () => {
    try { return player.tech(true)?.el() ?? null; } catch { return null; }
  }, (report, keep, destroyed) => {
    const on = (target, event, fn) => { target.on(event, fn); keep(() => target.off(event, fn)); };
    const levels = typeof player.qualityLevels === "function" ? player.qualityLevels() : null;
    if (levels) {
      on(levels, "change", () => {
        const l = levels[levels.selectedIndex];
        if (l) report("rendition", rendition(l.bitrate, l.width, l.height, l.frameRate));
      });
    }
    on(player, "waiting", () => report("stall"));
    on(player, "error", () => {
      const error = player.error();
      if (error) report("error", { code: text(error.code), fatal: true, message: text(error.message) });
    });
    on(player, "dispose", destroyed);
  });

  const kinds = [
    [(p) => typeof window.Hls === "function" && p instanceof window.Hls, attachHls],
    [(p) => typeof p?.getVideoElement === "function" && window.dashjs?.MediaPlayer?.events, attachDash],
    [(p) => typeof p?.tech === "function" && typeof p?.qualityLevels === "function", attachVideojs],
  ];
  api.attach = (player) => {
    if (attached.has(player)) return;
    const kind = kinds.find(([is]) => is(player));
    if (!kind) throw new TypeError("mediacollect.attach: not an hls.js, dash.js or Video.js player");
    kind[1](player);
  };
  api.detach = (player) => attached.get(player)?.off();
  const diagnose = api.diagnose;
  api.diagnose = () => ({ ...diagnose(), players: attached.size });

  // Video.js players are found by themselves: the ones set up from now on, and any already there
  // (Video.js may load after this file: then it is looked for again once the page is parsed).
  let hooked = false;
  const findVideojs = () => {
    const videojs = window.videojs;
    if (hooked || typeof videojs?.hook !== "function") return;
    hooked = true;
    videojs.hook("setup", (player) => api.attach(player));
    for (const player of Object.values(videojs.getPlayers?.() ?? {})) if (player) api.attach(player);
  };
  findVideojs();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", findVideojs, { once: true });
})();

// The Video.js example (videojs.html): no mediacollect call at all (players.js finds the player).
// Loaded before video.min.js: Video.js would otherwise add an inline <style>, which this site's
// Content-Security-Policy refuses (its stylesheet is linked instead). The stream is the
// element's data-stream, or ?src=<path> on this origin.
"use strict";
window.VIDEOJS_NO_DYNAMIC_STYLE = true;
document.addEventListener("DOMContentLoaded", () => {
  const video = document.getElementById("video");
  const asked = new URLSearchParams(location.search).get("src");
  const src = new URL(asked || video.dataset.stream, location.href);
  if (src.origin !== location.origin) throw new Error("?src= must be a path on this site");
  const player = videojs(video, { html5: { vhs: { overrideNative: true } } });
  player.src({ src: src.href, type: video.dataset.streamType });
  window.player = player;
});

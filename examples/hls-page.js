// The hls.js example (hls.html, live.html): one line of mediacollect, mediacollect.attach(hls).
// The stream is the element's data-stream, or ?src=<path> on this origin (the tests' 404 case).
"use strict";
(() => {
  const video = document.getElementById("video");
  const asked = new URLSearchParams(location.search).get("src");
  const src = new URL(asked || video.dataset.stream, location.href);
  if (src.origin !== location.origin) throw new Error("?src= must be a path on this site");
  const hls = new Hls({ enableWorker: true, liveSyncDurationCount: 3 });
  mediacollect.attach(hls);
  hls.loadSource(src.href);
  hls.attachMedia(video);
  window.player = hls;
})();

// The hls.js example (hls.html, live.html): one line of mediacollect, mediacollect.attach(hls).
// The stream: stream.js.
"use strict";
(() => {
  const video = document.getElementById("video"), src = exampleStream(video);
  const hls = new Hls({ enableWorker: true, liveSyncDurationCount: 3 });
  mediacollect.attach(hls);
  hls.loadSource(src);
  hls.attachMedia(video);
  window.player = hls;
})();

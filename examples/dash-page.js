// The dash.js example (dash.html): one line of mediacollect, mediacollect.attach(player).
// The stream is the element's data-stream, or ?src=<path> on this origin.
"use strict";
(() => {
  const video = document.getElementById("video");
  const asked = new URLSearchParams(location.search).get("src");
  const src = new URL(asked || video.dataset.stream, location.href);
  if (src.origin !== location.origin) throw new Error("?src= must be a path on this site");
  const player = dashjs.MediaPlayer().create();
  mediacollect.attach(player);
  player.initialize(video, src.href, false);
  window.player = player;
})();

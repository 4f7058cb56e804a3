// The dash.js example (dash.html): one line of mediacollect, mediacollect.attach(player).
// The stream: stream.js.
"use strict";
(() => {
  const video = document.getElementById("video"), src = exampleStream(video);
  const player = dashjs.MediaPlayer().create();
  mediacollect.attach(player);
  player.initialize(video, src, false);
  window.player = player;
})();

// The adaptive-stream examples' source (hls-page.js, dash-page.js): the element's data-stream, or
// ?src=<path> (the tests' 404 case), and only ever a path on this site, whatever the query says.
"use strict";
window.exampleStream = (video) => {
  const asked = new URLSearchParams(location.search).get("src");
  const src = new URL(asked || video.dataset.stream, location.href);
  if (src.origin !== location.origin) throw new Error("?src= must be a path on this site");
  return src.href;
};

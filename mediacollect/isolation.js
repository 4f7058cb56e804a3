// mediacollect isolation: cross-origin isolation for hosts that cannot send COOP/COEP headers.
//
// One file with two roles. On the page (a classic <script src> placed first in <head>, served from
// the site's root so that its service worker's scope covers the pages): when the page is not
// cross-origin isolated, it stops the page's load at once (so neither the shim nor PyScript start
// work that would be thrown away), registers this same file as a service worker, and reloads once
// the worker is active. As the service worker: it adds `Cross-Origin-Opener-Policy: same-origin`
// and `Cross-Origin-Embedder-Policy: credentialless` to documents and worker scripts, which is all
// isolation needs, and leaves every other request alone (the API calls, media and the keepalive
// sessionEnd go straight to the network, not through the worker).
//
// The cost: on the first visit the page loads twice (the first load stops at this script); later
// visits are controlled by the worker from the start. If the page is still not isolated after
// that reload (a browser without credentialless COEP, service workers refused, storage refused),
// it gives up for the tab's session and the page runs Python on the main thread, as on any host
// without the headers. A host that sends the headers itself never needs this file: the page is
// isolated and the script returns at once.
(() => {
  "use strict";
  if (typeof window === "undefined") {
    self.addEventListener("install", () => self.skipWaiting());
    self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
    self.addEventListener("fetch", (event) => {
      const request = event.request;
      if (request.mode !== "navigate" && request.destination !== "worker") return;
      event.respondWith(fetch(request).then((response) => {
        if (response.type === "opaqueredirect" || response.status === 0) return response;
        const headers = new Headers(response.headers);
        headers.set("Cross-Origin-Opener-Policy", "same-origin");
        headers.set("Cross-Origin-Embedder-Policy", "credentialless");
        return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
      }));
    });
    return;
  }
  const RELOADED = "mediacollect-isolation-reloaded", GIVE_UP_MS = 4000;
  const say = (text) => console.warn(`mediacollect isolation: ${text}`);
  try {
    if (window.crossOriginIsolated) {
      sessionStorage.removeItem(RELOADED);
      return;
    }
    if (!window.isSecureContext || !navigator.serviceWorker) {
      say("no service worker here (not a secure context?): Python will run on the main thread");
      return;
    }
    if (sessionStorage.getItem(RELOADED)) {
      say("still not cross-origin isolated after the service worker's reload: Python will run on the main thread");
      return;
    }
    sessionStorage.setItem(RELOADED, "1");
  } catch (error) {
    say(`session storage refused (${error}): Python will run on the main thread`);
    return;
  }
  window.stop();
  const reload = () => location.reload();
  navigator.serviceWorker.register(document.currentScript.src)
    .then(() => navigator.serviceWorker.ready)
    .then(reload, (error) => { say(`the service worker could not be registered (${error})`); reload(); });
  // A worker that never becomes active (refused by the browser's settings) must not leave the page
  // stopped: reload anyway; the second load falls back (above). Activation takes well under 1 s.
  setTimeout(() => { say(`the service worker did not become active within ${GIVE_UP_MS} ms`); reload(); },
             GIVE_UP_MS);
})();

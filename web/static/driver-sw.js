/* Loopvan driver tablet: service worker.
 *
 * Served by web/driver.py at /driver/sw.js (scope /driver), which puts four constants in
 * front of this file: SHELL_VERSION, SHELL_URLS, SHELL_PAGE and ROUTE_URL.
 *
 * - The shell (page, script, style, manifest, icon) is cached at install, one cache per
 *   shell version; the page is network-first (short timeout), the rest cache-first.
 * - The route JSON is network-first; every 200 is kept, and when the network fails the
 *   last one is served with the header X-Loopvan-Cache: 1 (the page says "offline copy").
 * - Writes (POST events) are never touched: the page keeps its own queue and resends.
 */
/* global SHELL_VERSION, SHELL_URLS, SHELL_PAGE, ROUTE_URL */
"use strict";

const SHELL_PREFIX = "loopvan-driver-shell-";
const SHELL_CACHE = SHELL_PREFIX + SHELL_VERSION;
const DATA_CACHE = "loopvan-driver-data";
const PAGE_TIMEOUT_MS = 3500;
const ROUTE_TIMEOUT_MS = 8000;
const SHELL_KEYS = new Set(SHELL_URLS);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL_URLS.map((u) => new Request(u, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys
            .filter((k) => k.startsWith(SHELL_PREFIX) && k !== SHELL_CACHE)
            .map((k) => caches.delete(k))
        )
      )
      .then(() => self.clients.claim())
  );
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); }
    );
  });
}

async function page(request) {
  try {
    const resp = await withTimeout(fetch(request), PAGE_TIMEOUT_MS);
    if (resp.ok) return resp;
    const hit = await caches.match(SHELL_PAGE, { cacheName: SHELL_CACHE });
    return hit || resp;
  } catch (err) {
    const hit = await caches.match(SHELL_PAGE, { cacheName: SHELL_CACHE });
    if (hit) return hit;
    throw err;
  }
}

async function shellFile(request) {
  const hit = await caches.match(request, { cacheName: SHELL_CACHE });
  return hit || fetch(request);
}

async function route(request) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const resp = await withTimeout(fetch(request), ROUTE_TIMEOUT_MS);
    if (resp.status === 200) {
      await cache.put(ROUTE_URL, resp.clone());
    } else if (resp.status === 401 || resp.status === 404) {
      await cache.delete(ROUTE_URL); // unpaired, or nothing published: forget the old route
    }
    return resp;
  } catch (err) {
    const hit = await cache.match(ROUTE_URL);
    if (hit) {
      const headers = new Headers(hit.headers);
      headers.set("X-Loopvan-Cache", "1");
      return new Response(await hit.blob(), { status: 200, headers });
    }
    const body = JSON.stringify({ code: 503, status: "Offline", message: "offline, no saved route" });
    return new Response(body, {
      status: 503,
      headers: { "Content-Type": "application/json", "X-Loopvan-Cache": "miss" },
    });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === ROUTE_URL) {
    event.respondWith(route(request));
  } else if (request.mode === "navigate" && url.pathname === SHELL_PAGE) {
    event.respondWith(page(request));
  } else if (SHELL_KEYS.has(url.pathname + url.search)) {
    event.respondWith(shellFile(request));
  }
});

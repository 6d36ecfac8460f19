// The service worker: keeps one build's app shell (its pages, scripts and styles) so that a
// document opened once opens again without a network, after a reload or a browser restart.
//
// The document itself comes from IndexedDB (y-indexeddb), as when online. Only files that are
// the same for everyone are cached: never /api answers, never /ws, nothing of a document or an
// account, so nothing cached here can show one person's data to another.
// Pages are network first (online, a page is always the server's current one), falling back to
// this build's copy; /assets files are content-hashed, so cache first. web/build.mjs stamps the
// build's version and file list in; a new build is a new sw.js, which the browser installs on
// its next visit while online: the new shell is cached whole before it takes over, then older
// builds' caches are deleted. Open tabs keep working: they loaded everything they need at start
// (the app has no lazy imports; should one come, keep the previous build's cache too).

declare const __COEDIT_VERSION__: string;
/** The pages kept ("/", "/signin", "/d/": a document's page is the same for every name) and the
 * build's scripts and styles. */
declare const __COEDIT_SHELL__: { pages: string[]; assets: string[] };

interface ExtendableEvent extends Event {
  waitUntil(work: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface WorkerScope {
  skipWaiting(): Promise<void>;
  readonly clients: { claim(): Promise<void> };
  readonly location: Location;
  addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
}

const scope = self as unknown as WorkerScope;
const PREFIX = "coedit-shell-";
const CACHE = PREFIX + __COEDIT_VERSION__;
/** A page request that takes longer than this is answered from the cache (a network that hangs). */
const PAGE_TIMEOUT_MS = 4000;

scope.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // "reload": past the HTTP cache, so the shell is this build's, whole.
    const urls = [...__COEDIT_SHELL__.pages, ...__COEDIT_SHELL__.assets];
    await cache.addAll(urls.map((url) => new Request(url, { cache: "reload" })));
    await scope.skipWaiting();
  })());
});

scope.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    await scope.clients.claim();
  })());
});

/** Which cached page serves a navigation to `path`, or null for pages we don't keep. */
function shellPage(path: string): string | null {
  if (path === "/") return "/";
  if (path === "/signin" || path === "/signup") return "/signin";
  if (path.startsWith("/d/")) return "/d/";
  return null;
}

scope.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== scope.location.origin) return;
  if (request.mode === "navigate") {
    const page = shellPage(url.pathname);
    if (page) event.respondWith(networkFirst(request, page));
  } else if (url.pathname.startsWith("/assets/")) {
    event.respondWith(cacheFirst(request));
  }
  // Everything else (/api, /ws, /healthz, sw.js) goes to the network untouched.
});

async function networkFirst(request: Request, page: string): Promise<Response> {
  const network = fetch(request);
  const answer = await Promise.race([
    network.catch(() => null), // no network
    new Promise<undefined>((resolve) => setTimeout(resolve, PAGE_TIMEOUT_MS)), // one that hangs
  ]);
  // A 5xx may be a proxy answering for a server that is down: this build's page is better.
  if (answer && answer.status < 500) return answer;
  const cached = await cachedPage(page);
  if (cached) return cached;
  // Never opened on this device: whatever the network does (the browser's own offline page).
  return answer ?? network;
}

async function cachedPage(page: string): Promise<Response | undefined> {
  const cache = await caches.open(CACHE);
  return cache.match(page);
}

async function cacheFirst(request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  // Hashed names never change content: keep what this build's pages may still ask for.
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

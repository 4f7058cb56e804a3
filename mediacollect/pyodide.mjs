// PyScript's "interpreter" on mediacollect pages (pyscript.toml): Pyodide, with a faster way to
// install the pure-Python wheels that `packages` names.
//
// pyscript.toml lists packages by name, like any PyScript page (`packages_cache = "passthrough"`
// hands them to loadPyodide). Pyodide's own loader would unpack each wheel with Python, and its
// first use imports tarfile, email and importlib.metadata: ~0.3 s of every start-up. A
// pure-Python wheel is a zip that zipimport can import from as it is, so for each name the lock
// resolves to such a wheel (py3-none-any, no dependencies) this module fetches the file with the
// lock's sha256 as its integrity, writes it to Pyodide's file system and puts it on sys.path
// (the wheel carries bytecode where zipimport looks: tools/precompile_wheel.mjs). Every other
// name goes to Pyodide's loader unchanged.
//
// Start-up snapshot. Most of Pyodide's start-up is Python initialising itself, the same work on
// every visit. On the first visit this module asks Pyodide for a memory snapshot of the fresh
// interpreter (Pyodide's `_makeSnapshot` / `makeMemorySnapshot`, the mechanism Cloudflare's
// Python Workers use) and keeps it in the browser's Cache Storage; later visits start from it and
// skip that work. Nothing extra crosses the network. The snapshot is taken before any wheel is
// mounted or any page code runs, so it holds only Pyodide's own state; it is used only with the
// default interpreter options, and any failure to read or restore it falls back to a normal
// start (and drops it). Pages that should keep nothing in Cache Storage name
// `pyodide-no-snapshot.mjs` (beside this file) as their interpreter instead. Decision and
// figures: docs/architecture.md, "Start-up snapshot".
import { loadPyodide as loadRuntime, version } from "../pyodide-@PYODIDE_VERSION@/pyodide.mjs";

export { version };

const WHEELS = "/lib/mediacollect-wheels";
const indexURL = new URL("../pyodide-@PYODIDE_VERSION@/", import.meta.url).href;

// Cache Storage entries: one per Pyodide version; older ones are removed when a new one is made.
const SNAPSHOTS = "mediacollect-startup-snapshot";
const SNAPSHOT_OPTIONS = new Set(["stdout", "stderr", "stdin", "indexURL"]);
const STORE_AFTER_MS = 2000;

const base64 = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((byte) => parseInt(byte, 16))));

async function fetchLock() {
  const response = await fetch(new URL("pyodide-lock.json", indexURL));
  if (!response.ok) throw new Error(`mediacollect: pyodide-lock.json answered HTTP ${response.status}`);
  return response.json();
}

async function fetchWheels(names, lock) {
  if (!names.length) return { mounted: [], others: [] };
  const { packages } = await lock;
  const mounted = [], others = [];
  for (const name of names) {
    const entry = packages[String(name).toLowerCase()];
    const pure = entry && /-py3-none-any\.whl$/.test(entry.file_name) && !(entry.depends || []).length;
    if (!pure) { others.push(name); continue; }
    const url = new URL(entry.file_name, indexURL);
    const wheel = fetch(url, { integrity: `sha256-${base64(entry.sha256)}` }).catch((error) => {
      throw new Error(`mediacollect: ${url} was refused: it does not match its sha256 in pyodide-lock.json `
                      + `(rebuild vendor/ with tools/build_vendor.py), or the network failed (${error.message})`);
    }).then(async (response) => {
      if (!response.ok) throw new Error(`mediacollect: ${url} answered HTTP ${response.status}`);
      return { file: entry.file_name.split("/").pop(), bytes: new Uint8Array(await response.arrayBuffer()) };
    });
    wheel.catch(() => {});  // awaited (and reported) once Pyodide is up
    mounted.push(wheel);
  }
  return { mounted, others };
}

/** The snapshot's place in Cache Storage, or null where it cannot or should not be used. */
async function snapshotStore(options) {
  if (Object.keys(options).some((name) => !SNAPSHOT_OPTIONS.has(name))) return null;  // they shape the state
  if (typeof caches === "undefined") return null;  // not a secure context
  const name = `${SNAPSHOTS}-${version}`;
  const key = new URL(`startup-snapshot-${version}.bin`, indexURL).href;  // a cache key, never fetched
  let cache;
  try {
    cache = await caches.open(name);
  } catch {
    return null;  // storage refused (opaque origin, private mode)
  }
  return {
    async read() {
      const hit = await cache.match(key).catch(() => undefined);
      return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
    },
    async write(snapshot) {
      for (const old of await caches.keys()) if (old.startsWith(SNAPSHOTS) && old !== name) await caches.delete(old);
      await cache.put(key, new Response(snapshot, { headers: { "content-type": "application/octet-stream" } }));
    },
    drop: () => cache.delete(key),
  };
}

// How this worker's interpreter started, for people and tests to read in the worker's scope:
// "restored" (from the snapshot), "made" (a normal start that then made the snapshot), or "off".
const STARTUP = "mediacollectStartup";

async function startRuntime(options, store) {
  globalThis[STARTUP] = "off";
  const saved = store && await store.read().catch(() => null);
  if (saved) {
    try {
      const pyodide = await loadRuntime({ ...options, _loadSnapshot: saved });
      // The snapshot's interpreter already ran Pyodide's set-up once: its `sys.path` entry for the
      // working directory is there twice, and a `random` module imported then would replay the
      // same numbers on every visit.
      pyodide.runPython("import sys\nif sys.path[:2] == ['', '']: del sys.path[0]\n"
                        + "if 'random' in sys.modules: sys.modules['random'].seed()");
      globalThis[STARTUP] = "restored";
      return pyodide;
    } catch (error) {
      console.warn(`mediacollect: the start-up snapshot could not be used; starting without it (${error})`);
      await store.drop().catch(() => {});
    }
  }
  const pyodide = await loadRuntime({ ...options, _makeSnapshot: Boolean(store) });
  if (!store) return pyodide;
  try {
    const snapshot = pyodide.makeMemorySnapshot();
    // Storing 31 MB keeps the browser busy for ~1 s: after the page has started, not during (a
    // visitor who leaves before that starts cold again next time, and stores it then).
    setTimeout(() => store.write(snapshot).catch((error) => console.warn(`mediacollect: start-up snapshot not stored (${error})`)),
               STORE_AFTER_MS);
    realGlobals(pyodide);
    globalThis[STARTUP] = "made";
    return pyodide;
  } catch (error) {
    // A Pyodide whose internals moved: this interpreter may still see the recording Proxy.
    console.warn(`mediacollect: no start-up snapshot; starting again without one (${error})`);
    return loadRuntime(options);
  }
}

/**
 * Give the interpreter that made the snapshot the real global object back.
 *
 * To make a snapshot, Pyodide hands Python a Proxy of `globalThis` that records the path to
 * every JS object Python takes, so that a restore can find them again. That Proxy calls the
 * getters of the global scope and of every object reached through it with the Proxy as `this`,
 * which Web APIs refuse ("Illegal invocation": `from js import crossOriginIsolated`, or
 * `js.location.href`). Once the snapshot is taken this interpreter goes on as a normal one, so
 * every JS value Python holds is pointed back to the real object, by the same recorded paths a
 * restore uses (Pyodide's own restore does this, in `syncUpSnapshotLoad2`).
 */
function realGlobals(pyodide) {
  const api = pyodide._api, module = pyodide._module;
  const expected = api.getExpectedKeys();
  const { hiwireKeys } = api.serializeHiwireState();
  const proxy = expected.indexOf(api.config.jsglobals);  // what `js` is made from
  if (proxy < 0) throw new Error("mediacollect: Pyodide's globals are not where this module expects them");
  api.config.jsglobals = globalThis;
  module.__hiwire_set(proxy, globalThis);
  hiwireKeys.forEach((key, index) => {
    if (key && "path" in key) module.__hiwire_set(expected.length + index, key.path.reduce((object, name) => object[name], globalThis) ?? null);
  });
}

/** Pyodide with the `packages` wheels on sys.path, from the start-up snapshot unless `snapshot` is false. */
export async function start(options = {}, { snapshot = true } = {}) {
  const { packages = [], ...rest } = options;
  // The lock and the wheels download while Pyodide starts (a failure is reported below). One
  // fetch of the lock serves both, unless the caller brought a lock of its own for Pyodide.
  const lock = fetchLock();
  lock.catch(() => {});
  const shared = rest.lockFileContents || rest.lockFileURL ? {} : { lockFileContents: lock, packageBaseUrl: indexURL };
  const wheels = fetchWheels(packages, lock);
  wheels.catch(() => {});
  const store = snapshot ? await snapshotStore(rest).catch(() => null) : null;
  const pyodide = await startRuntime({ ...rest, ...shared, indexURL }, store);
  const { mounted, others } = await wheels;
  const files = await Promise.all(mounted);
  if (files.length) {
    pyodide.FS.mkdirTree(WHEELS);
    for (const { file, bytes } of files) pyodide.FS.writeFile(`${WHEELS}/${file}`, bytes);
    const paths = files.map(({ file }) => `${WHEELS}/${file}`);
    pyodide.runPython(`import sys; sys.path[1:1] = ${JSON.stringify(paths)}`);
  }
  if (others.length) await pyodide.loadPackage(others);
  return pyodide;
}

export const loadPyodide = (options = {}) => start(options);

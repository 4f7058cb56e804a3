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
// Compiled standard library. The stdlib zip Pyodide ships is sources only, so every start compiles
// each module it imports: most of a cold start's Python time. Pyodide starts here from a copy with
// bytecode for the modules a page imports (tools/compile_stdlib.mjs, built beside Pyodide; its
// name carries its sha256).
//
// Start-up snapshot. Most of Pyodide's start-up is Python initialising itself, the same work on
// every visit. Pyodide can snapshot the memory of a fresh interpreter (`_makeSnapshot` /
// `makeMemorySnapshot`, the mechanism Cloudflare's Python Workers use) and start from it
// (`_loadSnapshot`), skipping that work. On the first visit this interpreter starts as plain
// loadPyodide() does; a while after, a worker of its own (snapshot-worker.mjs) starts a second,
// throwaway interpreter with `_makeSnapshot`, takes its snapshot and keeps it in the browser's
// Cache Storage; later visits start from it. The first visit pays nothing for it on its start-up
// and nothing extra crosses the network. The snapshot holds only Pyodide's own state (no wheel,
// no page code); it is used only with the default interpreter options, and any failure to read
// or restore it falls back to a normal start (and drops it, to be made again). Pages that should
// keep nothing in Cache Storage name `pyodide-no-snapshot.mjs` (beside this file) as their
// interpreter instead. Decision and figures: docs/architecture.md, "Start-up snapshot".
import { loadPyodide as loadRuntime, version } from "../pyodide-@PYODIDE_VERSION@/pyodide.mjs";

export { version };

const WHEELS = "/lib/mediacollect-wheels";
const indexURL = new URL("../pyodide-@PYODIDE_VERSION@/", import.meta.url).href;
const STDLIB = "@STDLIB_ZIP@";  // python_stdlib-<sha256, 12 hex digits>.zip
const stdLibURL = new URL(STDLIB, indexURL).href;

// Cache Storage entries: one per Pyodide version and stdlib zip (a snapshot holds zipimport's
// offsets into the zip it was made with); older ones are removed when a new one is made.
const SNAPSHOTS = "mediacollect-startup-snapshot";
const SNAPSHOT_OPTIONS = new Set(["stdout", "stderr", "stdin", "indexURL"]);
// The second interpreter takes ~1 s of a core and ~60 MB while it lives: it starts once the page
// has started and its first requests are out, not while they compete for the same cores.
const MAKE_AFTER_MS = 5000;

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
async function snapshotStore(options = {}) {
  if (Object.keys(options).some((name) => !SNAPSHOT_OPTIONS.has(name))) return null;  // they shape the state
  if (typeof caches === "undefined") return null;  // not a secure context
  const name = `${SNAPSHOTS}-${version}-${STDLIB.slice("python_stdlib-".length, -".zip".length)}`;
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

// For people and tests to read in the worker's scope. How this worker's interpreter started:
// "restored" (from the snapshot), "fresh" (a normal start; the snapshot is made after) or "off".
// And, after a fresh start, where the snapshot is: "waiting", "making", "stored" or "failed".
const STARTUP = "mediacollectStartup", SNAPSHOT = "mediacollectSnapshot";

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
  const pyodide = await loadRuntime(options);
  if (store) {
    globalThis[STARTUP] = "fresh";
    makeSnapshotLater();
  }
  return pyodide;
}

/** Start snapshot-worker.mjs once the page has started, and say in the console if it fails. */
function makeSnapshotLater() {
  globalThis[SNAPSHOT] = "waiting";
  const failed = (why) => {
    globalThis[SNAPSHOT] = "failed";
    console.warn(`mediacollect: start-up snapshot not stored (${why})`);
  };
  setTimeout(() => {
    let worker;
    try {
      worker = new Worker(new URL("./snapshot-worker.mjs", import.meta.url),
                          { type: "module", name: "mediacollect start-up snapshot" });
    } catch (error) {
      failed(error);  // no nested workers here: next visit starts fresh again
      return;
    }
    globalThis[SNAPSHOT] = "making";
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) failed(data.error);
      else globalThis[SNAPSHOT] = "stored";
    };
    worker.onerror = (event) => {
      worker.terminate();
      failed(event.message || "snapshot-worker.mjs could not be loaded");
    };
  }, MAKE_AFTER_MS);
}

/**
 * Start a throwaway interpreter, take the snapshot of it, and store it (snapshot-worker.mjs).
 *
 * While `_makeSnapshot` is on, Pyodide gives Python a Proxy of `globalThis` that records the path
 * to every JS object Python takes, so that a restore can find them again; Web API getters refuse
 * that Proxy as `this` ("Illegal invocation"). That is why the snapshot comes from an interpreter
 * no page code ever runs in.
 */
export async function makeSnapshot() {
  const store = await snapshotStore();
  if (!store) throw new Error("no Cache Storage here");
  const pyodide = await loadRuntime({ indexURL, stdLibURL, lockFileContents: fetchLock(), _makeSnapshot: true });
  await store.write(pyodide.makeMemorySnapshot());
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
  const pyodide = await startRuntime({ stdLibURL, ...rest, ...shared, indexURL }, store);
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

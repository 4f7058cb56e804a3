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
import { loadPyodide as loadRuntime, version } from "../pyodide-@PYODIDE_VERSION@/pyodide.mjs";

export { version };

const WHEELS = "/lib/mediacollect-wheels";
const indexURL = new URL("../pyodide-@PYODIDE_VERSION@/", import.meta.url).href;

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

export async function loadPyodide(options = {}) {
  const { packages = [], ...rest } = options;
  // The lock and the wheels download while Pyodide starts (a failure is reported below). One
  // fetch of the lock serves both, unless the caller brought a lock of its own for Pyodide.
  const lock = fetchLock();
  lock.catch(() => {});
  const shared = rest.lockFileContents || rest.lockFileURL ? {} : { lockFileContents: lock, packageBaseUrl: indexURL };
  const wheels = fetchWheels(packages, lock);
  wheels.catch(() => {});
  const pyodide = await loadRuntime({ ...rest, ...shared, indexURL });
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

// Run one Python script of this repository inside Pyodide (Node), e.g. a benchmark:
//   node bench/pyodide_run.mjs bench/core_cost.py
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const script = process.argv[2];
const pyodide = await loadPyodide({ indexURL: resolve(root, "node_modules", "pyodide") + "/" });
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.globals.set("script", `/repo/${script}`);
await pyodide.runPythonAsync(`
import runpy, sys
sys.dont_write_bytecode = True
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
`);

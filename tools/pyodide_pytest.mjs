// Run the tracker core's CPython test suite inside Pyodide (the runtime the page uses), in Node.
//
//   node tools/pyodide_pytest.mjs <wheel dir> [pytest args...]
//
// Pyodide comes from node_modules (the same npm package vendor/ is built from); test-only wheels
// (pytest, hypothesis and their dependencies, pure Python) are unpacked from <wheel dir>; the
// repository is mounted read-only-in-practice at /repo. Exits with pytest's exit code.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [wheelDir, ...pytestArgs] = process.argv.slice(2);
if (!wheelDir) {
  console.error("usage: node tools/pyodide_pytest.mjs <wheel dir> [pytest args...]");
  process.exit(2);
}

const pyodide = await loadPyodide({ indexURL: join(root, "node_modules", "pyodide") + "/" });
const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
for (const name of readdirSync(wheelDir).filter((n) => n.endsWith(".whl"))) {
  pyodide.unpackArchive(new Uint8Array(readFileSync(join(wheelDir, name))), "wheel", { extractDir: sitePackages });
}
pyodide.FS.mkdirTree("/repo");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, "/repo");
pyodide.globals.set("pytest_args", pyodide.toPy(pytestArgs));
const code = await pyodide.runPythonAsync(`
import os, sys
sys.dont_write_bytecode = True          # nothing written into the mounted repository
sys.path.insert(0, "/repo")
os.chdir("/tmp")                         # hypothesis' example database stays in memory
with open("/tmp/pytest.ini", "w") as ini:  # the repo's config names CPython-only plugins
    ini.write("[pytest]\\nfilterwarnings = error\\nmarkers =\\n    browser: browser tests\\n")
import platform, pytest
print("running in", platform.python_implementation(), sys.version.split()[0], sys.platform)
pytest.main(["-c", "/tmp/pytest.ini", "--rootdir", "/repo", "-p", "no:cacheprovider", *pytest_args])
`);
process.exit(Number(code));

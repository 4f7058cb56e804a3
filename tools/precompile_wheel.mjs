// Add Python 3.14 bytecode to a pure-Python wheel, compiled by Pyodide itself.
//
//   node tools/precompile_wheel.mjs <wheel>
//
// Pyodide compiles a module's source on every page load unless a matching .pyc sits in
// __pycache__ (an installed wheel) or beside the source (zipimport: the wheel itself on
// sys.path, as mediacollect's interpreter module mounts it); our wheel is built by the host's
// CPython, whose bytecode Pyodide cannot use.
// The .pyc files are "unchecked hash" pycs: valid whatever the unpacked files' mtimes are.
// RECORD is rewritten so the wheel stays a valid wheel.
import { dirname, basename, resolve } from "node:path";
import { loadPyodide } from "pyodide";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const wheel = resolve(process.argv[2] ?? "");
const pyodide = await loadPyodide({ indexURL: resolve(root, "node_modules", "pyodide") + "/" });
pyodide.FS.mkdirTree("/out");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: dirname(wheel) }, "/out");
pyodide.globals.set("wheel_name", basename(wheel));
pyodide.runPython(`
import base64, hashlib, importlib.util, io, sys, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

path = "/out/" + wheel_name
with zipfile.ZipFile(path) as src:
    entries = [(info, src.read(info)) for info in src.infolist()]
record_name = next(info.filename for info, _ in entries if info.filename.endswith(".dist-info/RECORD"))
files = {info.filename: data for info, data in entries if info.filename != record_name and "__pycache__" not in info.filename}
for name, data in list(files.items()):
    if name.endswith(".py"):
        code = compile(data, name, "exec", dont_inherit=True)
        pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
        folder, _, module = name.rpartition("/")
        files[f"{folder}/__pycache__/{module[:-3]}.{sys.implementation.cache_tag}.pyc"] = bytes(pyc)
        # Where zipimport looks (it ignores __pycache__): our loader imports straight from the
        # wheel on sys.path. An installed copy ignores it (a .py beside it takes precedence).
        files[f"{name}c"] = bytes(pyc)

def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

record = "".join(f"{name},{digest(data)},{len(data)}\\n" for name, data in files.items()) + f"{record_name},,\\n"
buffer = io.BytesIO()
# Stored, not deflated: the site serves the wheel brotli-compressed as a whole, which shares one
# window across sources and bytecode (123 kB on the wire instead of 190 kB per-file deflate).
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
    for name, data in files.items():
        out.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_STORED)
    out.writestr(zipfile.ZipInfo(record_name, date_time=(1980, 1, 1, 0, 0, 0)), record, zipfile.ZIP_STORED)
with open(path, "wb") as handle:
    handle.write(buffer.getvalue())
print(f"{wheel_name}: {sum(n.endswith('.py') for n in files)} modules precompiled for {sys.implementation.cache_tag}")
`);

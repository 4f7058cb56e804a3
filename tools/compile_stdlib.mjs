// Pyodide's standard library with bytecode for the modules a mediacollect page imports.
//
//   node tools/compile_stdlib.mjs <out-dir> <source>...    (a source: a wheel or a folder of .py)
//
// The npm pyodide package ships python_stdlib.zip as sources only, so every visit compiles each
// stdlib module it imports: ~190 modules during Pyodide's own set-up, more for PyScript's package
// and ours. That compiling is most of a cold start's Python time. This writes a copy of the zip
// with an "unchecked hash" .pyc beside the source of every module that is imported by
//   - Pyodide's start-up (what this interpreter has imported once loadPyodide resolves), and
//   - the module-level imports of every .py in the sources (PyScript's Python package, our
//     wheels), followed transitively by importing them here.
// zipimport prefers name.pyc to name.py in the same folder and does not compare an unchecked pyc
// with its source. The sources stay (tracebacks show their lines). The zip is stored, not
// deflated: the site serves it brotli-compressed as a whole, about the size of the deflated
// original on the wire. Its name carries its sha256, so it can be cached as immutable and the
// start-up snapshot (made against this exact file) is keyed by it. Prints the file's name.
import { dirname, resolve } from "node:path";
import { loadPyodide } from "pyodide";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [outDir, ...sources] = process.argv.slice(2).map((path) => resolve(path));
if (!outDir || !sources.length) {
  console.error("usage: node tools/compile_stdlib.mjs <out-dir> <wheel or folder>...");
  process.exit(2);
}
const pyodide = await loadPyodide({ indexURL: resolve(root, "node_modules", "pyodide") + "/" });
pyodide.FS.mkdirTree("/host");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: "/" }, "/host");
pyodide.globals.set("out_dir", `/host${outDir}`);
pyodide.globals.set("sources", pyodide.toPy(sources.map((path) => `/host${path}`)));
const name = pyodide.runPython(`
import ast, hashlib, importlib, importlib.util, io, os, sys, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

STDLIB = next(path for path in sys.path if path.endswith(".zip"))  # where Pyodide mounts it


def module_level_imports(source):
    """Modules a file imports when it is imported (not those imported inside functions)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # submodules
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # still module level
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)


def python_files(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            for entry in wheel.namelist():
                if entry.endswith(".py"):
                    yield wheel.read(entry)
    else:
        for folder, _, files in os.walk(path):
            for file in files:
                if file.endswith(".py"):
                    with open(os.path.join(folder, file), "rb") as handle:
                        yield handle.read()


def in_stdlib(name):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a parent that is not a package, or not ours to import
        return False
    return spec is not None and (spec.origin or "").startswith(STDLIB + "/")


wanted = {name for path in sources for source in python_files(path) for name in module_level_imports(source)}
for name in sorted(wanted):
    if in_stdlib(name.partition(".")[0]) and in_stdlib(name):
        try:
            importlib.import_module(name)
        except Exception:  # cannot run under Node: it stays source (the browser test would say so)
            pass

compiled = {
    module.__spec__.origin[len(STDLIB) + 1:]
    for module in list(sys.modules.values())
    if getattr(module, "__spec__", None) and (module.__spec__.origin or "").startswith(STDLIB + "/")
}
buffer = io.BytesIO()
with open(STDLIB, "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as original, \\
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
    for entry in original.infolist():
        data = original.read(entry.filename)
        out.writestr(zipfile.ZipInfo(entry.filename, date_time=(1980, 1, 1, 0, 0, 0)), data)
        if entry.filename in compiled:
            # The file name a source import gives its code (tracebacks, warnings, inspect).
            code = compile(data, f"{STDLIB}/{entry.filename}", "exec", dont_inherit=True)
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
            out.writestr(zipfile.ZipInfo(entry.filename + "c", date_time=(1980, 1, 1, 0, 0, 0)), bytes(pyc))
data = buffer.getvalue()
name = f"python_stdlib-{hashlib.sha256(data).hexdigest()[:12]}.zip"
target = os.path.join(out_dir, name)
if not (os.path.exists(target) and open(target, "rb").read() == data):  # keep its mtime: no re-compressing
    with open(target, "wb") as handle:
        handle.write(data)
print(f"{name}: {len(compiled)} of {sum(n.endswith('.py') for n in original.namelist())} modules precompiled for {sys.implementation.cache_tag}", file=sys.stderr)
name
`);
console.log(name);

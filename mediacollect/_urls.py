"""``urllib.parse``, kept off the page's start-up path.

Imported from source it costs 70-120 ms in Pyodide, so no module imports this one at import
time: the page imports it right after it is ready (``ShimTransport.prepare_imports``), before
the first ``201`` or ad source needs it. Because its import is at module level here, the build
compiles ``urllib.parse`` (and what it imports) into the page's standard library
(``tools/compile_stdlib.mjs`` follows module-level imports).
"""

from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = ["urljoin", "urlsplit", "urlunsplit"]

"""Process-level tuning for long-running servers."""

from __future__ import annotations

import atexit
import gc


def settle_heap() -> None:
    """Collect once and move every surviving object out of the garbage collector's sight.

    Why: `loyalist demo` generates the demo business and then serves from the same process.
    The generation leaves hundreds of thousands of long-lived objects (modules, compiled
    statements, caches); every later full collection walked all of them, and a console view that
    happened to trigger one took 400-500 ms instead of ~50 (bench/console.py). After
    `gc.freeze()` collections only look at objects created while serving.
    """
    gc.collect()
    gc.freeze()
    # Hand them back at exit, so that the interpreter's last collection still frees them (native
    # extensions such as DuckDB report objects left over at shutdown as leaks).
    atexit.register(gc.unfreeze)

"""bm25s compiles its numba kernels afresh in every process: tens of seconds of a server's start on
2 cores, paid again by every worker. Numba can keep the machine code on disk (what `cache=True`
does for a decorated function); bm25s does not ask for it, so we turn it on for its kernels before
their first call. Later processes load them from the cache in well under a second."""

from __future__ import annotations

_done = False


def cache_bm25s_kernels() -> None:
    """Turn on numba's on-disk cache for bm25s's jitted functions (once per process)."""
    global _done
    if _done:
        return
    _done = True
    try:
        from numba.core.dispatcher import Dispatcher

        from bm25s.numba import retrieve_utils, selection
    except ImportError:  # no numba: the numpy backend needs no compile
        return
    for module in (retrieve_utils, selection):
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher):
                kernel.enable_caching()

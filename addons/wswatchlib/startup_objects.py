"""Addon: the objects that exist once the proxy runs are left out of Python's cyclic garbage
collection from then on (`gc.freeze`), when the proxy is a process of its own.

Every full collection walks every tracked object. Loading wswatch adds thousands of them
(its modules, functions, compiled patterns, vendor catalog), made once and kept for the
proxy's life, and collections run on mitmproxy's hot path: measured under callgrind, the
collector's walks over them cost each rejected handshake about 0.2 M instructions, a tenth of
wswatch's own work. Freezing once the proxy runs (after one collection, so no garbage is
kept) skips them, and mitmproxy's own start-up objects with them. `done` unfreezes, so a
script reload frees the old instance.

`wswatch_gc_freeze` turns it off: a proxy inside another program's process (wswatch's pytest
plugin, a test harness) would freeze that program's objects too, and pay a full collection
at each start.
"""

from __future__ import annotations

import gc
from typing import Any

from mitmproxy import ctx


class StartupObjects:
    def __init__(self) -> None:
        self._frozen = False

    def load(self, loader: Any) -> None:
        loader.add_option(
            "wswatch_gc_freeze",
            bool,
            True,
            "Once the proxy runs, leave the objects that exist then out of Python's cyclic "
            "garbage collection (gc.freeze): fewer instructions per handshake. Off for a proxy "
            "inside another program's process (the pytest plugin's).",
        )

    def running(self) -> None:
        if ctx.options.wswatch_gc_freeze:
            gc.collect()
            gc.freeze()
            self._frozen = True

    def done(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

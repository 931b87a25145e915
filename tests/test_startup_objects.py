"""Start-up objects frozen out of cyclic garbage collection while the proxy runs, only when
`wswatch_gc_freeze` is on, and given back when it stops."""

from __future__ import annotations

import gc

from mitmproxy.test import taddons
from wswatchlib.startup_objects import StartupObjects


def test_running_freezes_and_done_gives_back() -> None:
    concern = StartupObjects()
    with taddons.context(concern) as tctx:
        tctx.configure(concern, wswatch_gc_freeze=True)
        try:
            concern.running()
            assert gc.get_freeze_count() > 0
        finally:
            concern.done()
        assert gc.get_freeze_count() == 0


def test_off_leaves_the_collector_alone() -> None:
    concern = StartupObjects()
    with taddons.context(concern) as tctx:
        tctx.configure(concern, wswatch_gc_freeze=False)
        concern.running()
        assert gc.get_freeze_count() == 0
        concern.done()
        assert gc.get_freeze_count() == 0


def test_garbage_made_before_the_freeze_is_collected_not_kept() -> None:
    """The collection before the freeze frees cyclic garbage, which a freeze would keep."""

    class Node:
        pass

    concern = StartupObjects()
    with taddons.context(concern) as tctx:
        tctx.configure(concern, wswatch_gc_freeze=True)
        node = Node()
        node.me = node  # a cycle: only the collector frees it
        marker = id(node)
        del node
        try:
            concern.running()
            assert all(id(kept) != marker for kept in gc.get_objects() if type(kept) is Node)
        finally:
            concern.done()

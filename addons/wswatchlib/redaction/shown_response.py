"""Show a redacted copy of a response in the flow while the client still gets the original.

mitmproxy sends `flow.response` to the client only after its whole `response` (or `error`) hook
chain has run, and its own outputs read the flow during that chain, after the script addons: the
dumper prints it (`flow_detail` 1-3), the save addon writes it (`-w`), mitmweb's view records it.
So the watcher puts a redacted copy into the flow in its own hook (`ShownResponses.show`);
`SendOriginal`, an addon appended after every other one, puts the original back just before
mitmproxy sends it, and the copy returns once mitmproxy's task for that hook is done (that task
hands the hook's completion to the layer, which sends the response synchronously), so a flow
saved or shown later holds the copy too. If another addon replaced the response after
wswatch, its response is left alone.
"""

from __future__ import annotations

import asyncio

from mitmproxy import ctx, http


class ShownResponses:
    """The originals behind the redacted copies shown in flows, until they are sent."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[http.Response, http.Response]] = {}
        self._sender = SendOriginal(self)

    def show(self, flow: http.HTTPFlow, copy: http.Response) -> None:
        """Let everything after wswatch see `copy`; the client still gets the original."""
        assert flow.response is not None
        self._pending[flow.id] = (flow.response, copy)
        flow.response = copy

    def take(self, flow: http.HTTPFlow) -> tuple[http.Response, http.Response] | None:
        return self._pending.pop(flow.id, None)

    def running(self) -> None:
        ctx.master.addons.add(self._sender)

    def done(self) -> None:
        if ctx.master.addons.get(SendOriginal.name) is self._sender:
            ctx.master.addons.remove(self._sender)
        self._pending.clear()


def _show_copy_again(flow: http.HTTPFlow, original: http.Response, copy: http.Response) -> None:
    if flow.response is original:
        flow.response = copy


class SendOriginal:
    """Addon at the end of mitmproxy's chain: the original response goes to the client."""

    name = "wswatch-send-original"

    def __init__(self, shown: ShownResponses) -> None:
        self.shown = shown

    def response(self, flow: http.HTTPFlow) -> None:
        pending = self.shown.take(flow)
        if pending is None:
            return
        original, copy = pending
        if flow.response is not copy:
            return
        flow.response = original
        # mitmproxy's hook task goes on to hand `HookCompleted` to the layer, which sends the
        # response; only once that task is done is the original on the wire. (A plain call_soon
        # is not enough on mitmproxy 12: its eager tasks can make the send wait for a lock.)
        hook_task = asyncio.current_task()
        if hook_task is None:
            asyncio.get_running_loop().call_soon(_show_copy_again, flow, original, copy)
        else:
            hook_task.add_done_callback(lambda _: _show_copy_again(flow, original, copy))

    error = response

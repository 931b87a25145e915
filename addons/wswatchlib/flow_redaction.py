"""What mitmproxy shows and saves of a reported upgrade carries no secret; the peers get theirs.

Once the watcher has reported an attempt, the flow's request has already gone upstream, so it is
redacted in place: secret query values and headers by name, echoed secret values anywhere in its
headers and body. Its response has not reached the client yet, so the flow shows a redacted copy
while the original is sent (`shown_response`). mitmproxy's dumper (`flow_detail` 1-3), its saver
(`-w`) and mitmweb read the flow after wswatch, so they see only the redacted versions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from mitmproxy import http

from .redaction import REDACTED, Redactor, scrub_bytes, scrub_secrets
from .shown_response import ShownResponses


def _replace_body(message: http.Message, raw: bytes) -> None:
    """Set the body as it would be on the wire, keeping Content-Length true to it."""
    message.raw_content = raw
    if "content-length" in message.headers:
        message.headers["content-length"] = str(len(raw))


class FlowRedaction:
    """Redacts a flow once reported; `running` / `done` follow the watcher's."""

    def __init__(self, redactor: Callable[[], Redactor]) -> None:
        self._redactor = redactor
        self.shown = ShownResponses()

    def running(self) -> None:
        self.shown.running()

    def done(self) -> None:
        self.shown.done()

    def redact(self, flow: http.HTTPFlow, secrets: frozenset[str]) -> None:
        """The request was already sent upstream: from here on it is only shown and saved.
        The response has not reached the client yet: the flow shows a redacted copy while the
        original is sent (`shown_response`)."""
        request = flow.request
        for name in list(request.query.keys()):
            if self._redactor().is_secret_param(name):
                request.query[name] = REDACTED
        self._redact_headers(request.headers, secrets)
        if secrets and request.raw_content:
            _replace_body(request, scrub_bytes(request.raw_content, secrets))
        if flow.response is not None:
            self.shown.show(flow, self._redacted_copy(flow.response, secrets))

    def _redacted_copy(self, response: http.Response, secrets: frozenset[str]) -> http.Response:
        copy = response.copy()
        self._redact_headers(copy.headers, secrets)
        copy.reason = scrub_secrets(copy.reason, secrets)
        if secrets and copy.raw_content:
            if copy.headers.get("content-encoding"):
                # A compressed body would hide the secret from the scan: show it decoded.
                with contextlib.suppress(ValueError):
                    copy.decode(strict=False)
            _replace_body(copy, scrub_bytes(copy.raw_content or b"", secrets))
        return copy

    def _redact_headers(self, headers: http.Headers, secrets: frozenset[str]) -> None:
        for name in set(headers.keys()):
            values = headers.get_all(name)
            redacted = [
                scrub_secrets(self._redactor().redact_header(name, value), secrets)
                for value in values
            ]
            if redacted != values:
                headers.set_all(name, redacted)

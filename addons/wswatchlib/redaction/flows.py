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

from ..text import wire_bytes
from .redactor import REDACTED, Redactor, scrub, scrub_bytes, scrub_variants
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
        original is sent (`shown_response`), unless nothing in it could be redacted."""
        redactor = self._redactor()
        variants = scrub_variants(secrets)
        request = flow.request
        if "?" in request.path:
            for name in list(request.query.keys()):
                if redactor.is_secret_param(name):
                    request.query[name] = REDACTED
        self._redact_headers(request.headers, redactor, variants)
        if variants and request.raw_content:
            _replace_body(request, scrub_bytes(request.raw_content, secrets))
        response = flow.response
        if response is not None and self._may_change(response, redactor, variants):
            self.shown.show(flow, self._redacted_copy(response, redactor, secrets, variants))

    @staticmethod
    def _may_change(response: http.Response, redactor: Redactor, variants: list[str]) -> bool:
        """Whether the redacted copy could differ from `response`; copying costs, most
        responses carry nothing to redact."""
        headers = response.headers
        if not variants:  # only names can make a header change
            return any(
                redactor.changes_header(name, value, variants)
                for name in headers
                if redactor.may_change_header(name)
                for value in headers.get_all(name)
            )
        if any(redactor.changes_header(n, v, variants) for n, v in headers.items(True)):
            return True
        if any(variant in response.reason for variant in variants):
            return True
        raw = response.raw_content
        return (
            raw is not None
            and bool(raw)
            and (
                bool(response.headers.get("content-encoding"))
                or any(wire_bytes(variant) in raw for variant in variants)
            )
        )

    def _redacted_copy(
        self,
        response: http.Response,
        redactor: Redactor,
        secrets: frozenset[str],
        variants: list[str],
    ) -> http.Response:
        copy = response.copy()
        self._redact_headers(copy.headers, redactor, variants)
        copy.reason = scrub(copy.reason, variants)
        if variants and copy.raw_content:
            if copy.headers.get("content-encoding"):
                # A compressed body would hide the secret from the scan: show it decoded.
                with contextlib.suppress(ValueError):
                    copy.decode(strict=False)
            _replace_body(copy, scrub_bytes(copy.raw_content or b"", secrets))
        return copy

    @staticmethod
    def _redact_headers(headers: http.Headers, redactor: Redactor, variants: list[str]) -> None:
        if variants:
            touched = {
                name
                for name, value in headers.items(multi=True)
                if redactor.changes_header(name, value, variants)
            }
        else:  # no secret values to scrub: only names can make a header change
            touched = {name for name in headers if redactor.may_change_header(name)}
        for name in touched:
            values = headers.get_all(name)
            redacted = [scrub(redactor.redact_header(name, value), variants) for value in values]
            if redacted != values:
                headers.set_all(name, redacted)

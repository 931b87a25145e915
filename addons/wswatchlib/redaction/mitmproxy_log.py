"""Keep secrets out of mitmproxy's own log lines about requests wswatch never sees as flows.

mitmproxy logs a request it could not finish reading with its raw bytes ("Client closed
connection before completing request headers: b'GET /?token=...\\r\\nAuthorization: ...'"),
at INFO, so on the terminal by default. No flow exists for it, so the watcher never reports or
redacts it. `RawHeadRedaction`, a logging filter on mitmproxy's proxy-server logger, redacts the
secret headers and query parameters of any raw head in such a line, by name (there is no
request whose secret values could be scrubbed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .redactor import Redactor

#: The logger mitmproxy's connection handlers log through (mitmproxy/proxy/server.py).
PROXY_SERVER_LOGGER = "mitmproxy.proxy.server"


class RawHeadRedaction(logging.Filter):
    """logging filter: raw request heads in a record's message get their secrets redacted."""

    def __init__(self, redactor: Callable[[], Redactor]) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\\r\\n" in message or "\r\n" in message:
            record.msg, record.args = self._redactor().redact_raw_head(message), ()
        return True

    def install(self) -> None:
        logging.getLogger(PROXY_SERVER_LOGGER).addFilter(self)

    def uninstall(self) -> None:
        logging.getLogger(PROXY_SERVER_LOGGER).removeFilter(self)

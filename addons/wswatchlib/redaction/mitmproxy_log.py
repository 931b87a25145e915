"""Keep secrets out of mitmproxy's own log lines about requests wswatch never sees as flows.

mitmproxy logs a request it could not finish reading with its raw bytes ("Client closed
connection before completing request headers: b'GET /?token=...\\r\\nAuthorization: ...'"),
and a request line it refuses as it came ("Bad HTTP request line: b'GET
http://user:pass@host/ HTTP/1.1'"), at INFO, so on the terminal by default. No flow exists for
it, so the watcher never reports or redacts it. `RawHeadRedaction`, a logging filter on
mitmproxy's proxy-server logger, redacts the secret headers, query parameters and URL userinfo
of any raw head or request line in such a line, by name (there is no request whose secret
values could be scrubbed); the line itself stays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from .payloads import scrub_shapes
from .redactor import Redactor

#: The logger mitmproxy's connection handlers log through (mitmproxy/proxy/server.py).
PROXY_SERVER_LOGGER = "mitmproxy.proxy.server"

#: What a line quoting a request has that mitmproxy's connect and disconnect lines do not: a
#: line break of a raw head (escaped in a bytes repr, or real), URL userinfo ("user:pass@"), a
#: query string. One search per line: mitmproxy logs several lines per connection.
_RAW_REQUEST_SIGN = re.compile(r"\\r\\n|\r\n|[@?]")

#: How mitmproxy's WebSocket layer starts the line it logs for each ping and pong it relays.
_CONTROL_FRAME_LINE = "Received WebSocket p"


class RawHeadRedaction(logging.Filter):
    """logging filter: raw request heads in a record's message get their secrets redacted."""

    def __init__(self, redactor: Callable[[], Redactor]) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_CONTROL_FRAME_LINE):
            # mitmproxy logs each ping and pong with its payload bytes.
            record.msg, record.args = scrub_shapes(message), ()
        elif _RAW_REQUEST_SIGN.search(message):
            record.msg, record.args = self._redactor().redact_raw_head(message), ()
        return True

    def install(self) -> None:
        logging.getLogger(PROXY_SERVER_LOGGER).addFilter(self)

    def uninstall(self) -> None:
        logging.getLogger(PROXY_SERVER_LOGGER).removeFilter(self)

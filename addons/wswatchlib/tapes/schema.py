"""The JSON Schema of a tape's lines, built from the format's own constants.

Each line of a `*.tape.jsonl` file validates against this schema: the header (line 1), a message
or the end. Shipped as `tape.schema.json` beside this module; a test regenerates it and compares.
Regenerate: `python -m wswatchlib.tapes.schema > addons/wswatchlib/tapes/tape.schema.json`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .format import TAPE_VERSION, VERSION_KEY, ClientBinary, End

_PAIRS = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    "description": "[name, value] pairs in the order sent; secret values are [redacted]",
}
_NULLABLE_STRING = {"type": ["string", "null"]}


def tape_schema() -> dict[str, Any]:
    header = {
        "type": "object",
        "description": "Line 1: the upgrade attempt's handshake, as seen at the proxy, redacted",
        "required": [VERSION_KEY, "recorded_at", "wswatch_version", "request", "response"],
        "properties": {
            VERSION_KEY: {"const": TAPE_VERSION, "description": "the tape format version"},
            "recorded_at": {"type": "string", "description": "ISO 8601 UTC, ms, Z"},
            "wswatch_version": {"type": "string"},
            "request": {
                "type": "object",
                "required": ["method", "scheme", "host", "port", "path"],
                "properties": {
                    "method": {"type": "string"},
                    "scheme": {"enum": ["ws", "wss"]},
                    "host": {"type": "string"},
                    "port": {"type": "integer"},
                    "path": {"type": "string", "description": "with the query, secrets redacted"},
                    "http_version": {"type": "string"},
                    "headers": _PAIRS,
                },
            },
            "response": {
                "description": "null when no answer came (a network failure)",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["status", "headers"],
                        "properties": {
                            "status": {"type": "integer"},
                            "reason": {"type": "string"},
                            "http_version": {"type": "string"},
                            "headers": _PAIRS,
                            "body": {**_NULLABLE_STRING, "description": "the body as UTF-8"},
                            "body_base64": {
                                **_NULLABLE_STRING,
                                "description": "the body, when it is not UTF-8",
                            },
                        },
                    },
                ],
            },
            "outcome": {**_NULLABLE_STRING, "description": "as ws.handshake's outcome"},
            "vendor": _NULLABLE_STRING,
            "subprotocol": _NULLABLE_STRING,
            "extensions": {**_NULLABLE_STRING, "description": "the 101's extensions"},
            "client_binary": {"enum": [each.value for each in ClientBinary]},
            "relay": {
                **_NULLABLE_STRING,
                "description": "which relay carried it: websocket, observe or tcp",
            },
        },
    }
    timing = {"type": "number", "description": "milliseconds since the 101"}
    message = {
        "type": "object",
        "description": "One data message",
        "required": ["t", "from"],
        "properties": {
            "t": timing,
            "from": {"enum": ["client", "server"]},
            "text": {"type": "string"},
            "binary": {"type": "string", "contentEncoding": "base64"},
            "len": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
        "oneOf": [
            {"required": ["text"]},
            {"required": ["binary"]},
            {"required": ["len", "sha256"]},
        ],
    }
    end = {
        "type": "object",
        "description": "The last line: how the attempt ended",
        "required": ["end"],
        "properties": {
            "end": {"enum": [each.value for each in End]},
            "t": {**timing, "type": ["number", "null"]},
            "code": {"type": ["integer", "null"]},
            "reason": _NULLABLE_STRING,
            "closed_by": {"enum": ["client", "server", "proxy", None]},
            "clean": {"type": "boolean"},
            "error": _NULLABLE_STRING,
            "skipped": {
                "type": "object",
                "description": "per side, messages over the raw reader's size limit, not kept",
            },
            "unreadable": {
                "type": "object",
                "description": "per side, why the raw reader stopped (no later message kept)",
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wswatch.dev/schemas/tape-1.json",
        "title": "wswatch tape line (format 1)",
        "description": "Each line of a *.tape.jsonl file: the header, a message, or the end",
        "oneOf": [
            {**header, "required": header["required"]},
            {**message, "not": {"required": [VERSION_KEY]}},
            {**end, "not": {"required": [VERSION_KEY]}},
        ],
    }


if __name__ == "__main__":
    json.dump(tape_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")

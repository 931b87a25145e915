"""Write one tape to disk, and refuse to keep it if a known secret got through.

Lines go to `NAME.partial` as they come (a long session is never held in memory). At the end
the file is searched for every form of every secret the connection is known to hold (its
handshake's and those its messages revealed); only a file with none becomes `NAME`. The lines
were scrubbed before they were written: this is the last check, so a scrubbing gap costs a
tape, never a leaked credential in a file a team commits.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from pathlib import Path
from typing import Any

from ..redaction.redactor import scrub_variants
from ..text import wire_bytes
from .format import TAPE_SUFFIX, write_line

#: Longest slug of host and path in a tape's name.
SLUG_LENGTH = 60

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def tape_name(started: float, sequence: int, host: str, path: str, status: int | None) -> str:
    """A name that sorts by recording time and says what was recorded:
    `20261206T134621.123Z-0003-api.example.com-v1-listen-101.tape.jsonl`."""
    moment = datetime.datetime.fromtimestamp(started, tz=datetime.UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S.") + f"{moment.microsecond // 1000:03d}Z"
    # Joined by "/", which merges with the path's own leading slash into one "-".
    slug = _UNSAFE.sub("-", f"{host}/{path.partition('?')[0]}").strip("-")[:SLUG_LENGTH]
    return f"{stamp}-{sequence:04d}-{slug}-{status if status is not None else 'error'}{TAPE_SUFFIX}"


def _base64_payloads(line: bytes) -> list[bytes]:
    """The bytes a line carries as base64 (a binary message, a response body): a secret inside
    them shows in the file as base64 only when it starts on a 3-byte boundary and ends the
    payload or a 3-byte group, so they are searched decoded."""
    if b'"binary"' not in line and b'"body_base64"' not in line:
        return []
    try:
        document = json.loads(line)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    response = document.get("response")
    values = [
        document.get("binary"),
        response.get("body_base64") if isinstance(response, dict) else None,
    ]
    payloads = []
    for value in values:
        if isinstance(value, str):
            try:
                payloads.append(base64.b64decode(value))
            except ValueError:
                continue
    return payloads


def secret_lines(path: Path, secrets: frozenset[str]) -> list[int]:
    """The numbers of the lines of the file that hold a form of one of `secrets`
    (`redactor.secret_forms`), in order. Line by line: a tape's lines are its messages."""
    variants = scrub_variants(secrets)
    # `write_line` keeps non-ASCII as is, so a secret with both non-ASCII and a character JSON
    # escapes (`"`, `\`) is in the file in a form `secret_forms` (ASCII JSON) does not list.
    written = {json.dumps(form, ensure_ascii=False)[1:-1] for form in variants}
    forms = [wire_bytes(form) for form in dict.fromkeys([*variants, *sorted(written)])]
    if not forms:
        return []
    found: list[int] = []
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if any(form in text for text in (line, *_base64_payloads(line)) for form in forms):
                found.append(number)
    return found


class TapeWriter:
    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        self.partial = directory / (name + ".partial")
        self._file = self.partial.open("w", encoding="utf-8", newline="\n")
        self.lines = 0

    def write(self, line: dict[str, Any]) -> None:
        write_line(self._file, line)
        self.lines += 1

    def finish(self, secrets: frozenset[str]) -> list[int]:
        """Close the file and keep it as the tape unless it holds a secret; returns the lines
        that hold one (none: the tape was kept)."""
        self._file.close()
        found = secret_lines(self.partial, secrets)
        if found:
            self.partial.unlink(missing_ok=True)
        else:
            self.partial.replace(self.path)
        return found

    def abandon(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)

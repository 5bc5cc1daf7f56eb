"""Paths into JSON bodies whose values the request audit never stores (``audit.redact``).

A path is dot-separated names, each optionally followed by ``[*]`` (every element of a list) or
``[N]`` (one element): ``input``, ``messages[*].content``, ``choices[*].message.tool_calls[*].function``.
What a path reaches is replaced by the mask whatever it holds (a string, a list of content parts, an
object); a path that reaches nothing in a body changes nothing, so one list serves request and answer
bodies alike. Bodies are rebuilt where a path leads, never changed in place: the data may still be
shared with the call's request or answer.
"""

from __future__ import annotations

import re
from typing import Any

from api_connector.observability.redaction import MASK

_SEGMENT = re.compile(r"([A-Za-z0-9_$@-]+)((?:\[(?:\*|\d+)\])*)")
_INDEX = re.compile(r"\[(\*|\d+)\]")
EVERY = -1  # ``[*]``

# One step: a field name, or a list position (EVERY for each element).
Step = str | int
Path = tuple[Step, ...]


def parse_path(text: str) -> Path:
    """``messages[*].content`` -> ("messages", EVERY, "content"); ValueError for anything else."""
    steps: list[Step] = []
    if not text or len(text) > 256:
        raise ValueError(f"redaction path {text[:40]!r}: must be 1 to 256 characters")
    for part in text.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ValueError(f"redaction path {text!r}: {part!r} is not a field name optionally followed by [*] or [N]")
        steps.append(match.group(1))
        steps.extend(EVERY if index == "*" else int(index) for index in _INDEX.findall(match.group(2)))
    return tuple(steps)


def redact(data: Any, paths: tuple[Path, ...]) -> Any:
    """``data`` with what each path reaches replaced by the mask (a new structure where changed)."""
    for path in paths:
        data = _redact(data, path)
    return data


def _redact(data: Any, path: Path) -> Any:
    if not path:
        return MASK
    step, rest = path[0], path[1:]
    if isinstance(step, str):
        if not isinstance(data, dict) or step not in data:
            return data
        return {**data, step: _redact(data[step], rest)}
    if not isinstance(data, list):
        return data
    if step == EVERY:
        return [_redact(item, rest) for item in data]
    if step >= len(data):
        return data
    changed = list(data)
    changed[step] = _redact(data[step], rest)
    return changed

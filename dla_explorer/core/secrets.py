"""Passwords in storage URLs: redacted wherever a URL is shown or saved."""

from __future__ import annotations

import re
from typing import Any

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)$", re.S)


def redact(url: str) -> str:
    """`url` with its password replaced by ***. The credentials end at the last '@' before the
    path, so a password holding an unencoded '@' (or ':') is hidden whole."""
    match = _SCHEME.match(url)
    if not match:
        return url
    scheme, rest = match.groups()
    # the authority ends at the first '/' or '?' after the last '@' (passwords may hold '/')
    at = rest.rfind("@", 0, _path_start(rest))
    if at < 0:
        return url
    user, colon, _password = rest[:at].partition(":")
    return f"{scheme}{user}{':***' if colon else ''}{rest[at:]}"


def _path_start(rest: str) -> int:
    """Where the path of `rest` (the URL after the scheme) starts: after the last '@' that precedes
    a '/' or '?' of the path. A '/' inside a password comes before that '@'."""
    last_at = rest.rfind("@")
    if last_at < 0:
        return 0
    ends = [i for i in (rest.find("/", last_at), rest.find("?", last_at)) if i >= 0]
    return min(ends) if ends else len(rest)


def redact_tree(value: Any) -> Any:
    """A copy of nested dicts / lists with every URL-looking string redacted."""
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact(value)
    return value

"""Reading decoded JSON answers field by field, with errors that name the JSON path.

The shared helpers of the parsers (:mod:`.models`, :mod:`.users`): a required field that is
missing or of the wrong kind raises :class:`~.errors.ResponseFormatError` naming its path, e.g.
``data[2].attributes.connection_types: expected a list of strings, got int``; the lenient readers
(:func:`text`, :func:`flag`) never raise, for display-only fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ResponseFormatError

__all__ = ["fail", "field", "flag", "kind", "obj", "optional_string", "string", "text"]


def kind(value: object) -> str:
    """The JSON kind of a decoded value, for messages (``null``, ``object``, ``list``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def fail(path: str, message: str) -> ResponseFormatError:
    """The error for the value at ``path`` (``""``: the top level)."""
    return ResponseFormatError(f"{path or 'top level'}: {message}")


def obj(value: object, path: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else raise."""
    if not isinstance(value, Mapping):
        raise fail(path, f"expected an object, got {kind(value)}")
    return value


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def field(container: Mapping[str, Any], key: str, path: str) -> Any:
    """The member ``key`` of an object at ``path``; raise when it is missing."""
    if key not in container:
        raise fail(_at(path, key), "missing")
    return container[key]


def string(container: Mapping[str, Any], key: str, path: str) -> str:
    """A required non-empty string member."""
    value = field(container, key, path)
    if not isinstance(value, str) or not value:
        raise fail(_at(path, key), f"expected a non-empty string, got {kind(value)}")
    return value


def optional_string(container: Mapping[str, Any], key: str, path: str) -> str:
    """A string member that may be absent or null (``""``); any other kind raises."""
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(_at(path, key), f"expected a string, got {kind(value)}")
    return value


def text(container: object, key: str) -> str:
    """A display-only string member: ``""`` when absent, null, not a string, or not an object."""
    value = container.get(key) if isinstance(container, Mapping) else None
    return value if isinstance(value, str) else ""


def flag(container: object, key: str) -> bool | None:
    """A boolean member: ``None`` when absent, null or not a boolean (never raises)."""
    value = container.get(key) if isinstance(container, Mapping) else None
    return value if isinstance(value, bool) else None

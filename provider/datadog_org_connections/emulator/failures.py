"""The emulator's API failures and the texts of its error bodies.

Texts recorded from the real service are reproduced verbatim (including the doubled
``not found not found``). Inferred and modelled failures answer
``{"errors": ["Validation failed for input.", "<what is wrong>"]}``.
"""

from __future__ import annotations

from typing import Any

MSG_FORBIDDEN = "Forbidden"
MSG_NOT_FOUND = "Not found"
MSG_VALIDATION = "Validation failed for input."
MSG_BAD_UUID = "connection id must be a valid uuid"

NON_ENTERPRISE_MAX_SINKS = 5
"""Published: a non-Enterprise org can share with at most this many other orgs."""


class ApiFailure(Exception):
    """An emulated API failure: HTTP status plus the strings of the ``{"errors": [...]}`` body.

    Named apart from the client's ``errors.ApiError`` on purpose: this one is what the emulator
    *answers*, that one is what the client *raises*.
    """

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(f"{status}: {'; '.join(messages)}")
        self.status = status
        self.messages: list[str] = list(messages)

    def body(self) -> dict[str, Any]:
        """The JSON body of the error answer."""
        return {"errors": list(self.messages)}


def invalid(detail: str) -> ApiFailure:
    """A 400 for an inferred validation failure: the fixed first text, then ``detail``."""
    return ApiFailure(400, MSG_VALIDATION, detail)


def msg_not_allowed(source: str, sink: str) -> str:
    """The recorded 400 text for repeated types (also used for a connection to the org itself)."""
    return f"connection between orgs {source} and {sink} is not allowed"


def msg_exists(source: str, sink: str) -> str:
    """The recorded 409 text when the (source, sink) pair already has a connection."""
    return f"connection between orgs {source} and {sink} already exists"


def msg_connection_not_found(conn_id: str) -> str:
    """The recorded 404 text for an unknown connection id (the doubled "not found" is real)."""
    return f"org connection with id:{conn_id} not found not found"


def msg_update_not_found(conn_id: str) -> str:
    """The recorded 404 text of PATCH for an unknown connection id (capital O, unlike DELETE's)."""
    return f"Org connection with id:{conn_id} not found not found"


def msg_sink_limit(source: str) -> str:
    """Modelled (status and text unpublished): a non-Enterprise source already at its limit."""
    return (
        f"source org {source} is not on an Enterprise plan and already shares with "
        f"{NON_ENTERPRISE_MAX_SINKS} orgs, the most allowed without Enterprise"
    )


def sink_limit_failure(source: str) -> ApiFailure:
    """The modelled refusal of a connection past the non-Enterprise limit (400, two texts)."""
    return ApiFailure(400, MSG_VALIDATION, msg_sink_limit(source))

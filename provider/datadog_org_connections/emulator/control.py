"""Control endpoints under ``/_emulator/``: no auth, no faults, no rate limits, no latency.

See ``docs/emulator.md`` for the request and response shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from .failures import ApiFailure
from .faults import FaultConfig
from .ratelimit import RateLimitConfig
from .runtime import Runtime
from .store import parse_uuid

PREFIX = "/_emulator"

Result = tuple[int, Any]


def _body(raw: bytes) -> Any:
    """The JSON body of a control request; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiFailure(400, "request body is not valid JSON") from None


def _object(raw: bytes) -> Mapping[str, Any]:
    data = _body(raw)
    if not isinstance(data, Mapping):
        raise ApiFailure(400, "request body must be a JSON object")
    return data


def _number(data: Mapping[str, Any], name: str, *, positive: bool = False) -> float:
    value = data.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < 0
        or (positive and value == 0)
    ):
        kind = "a positive" if positive else "a non-negative"
        raise ApiFailure(400, f"{name}: expected {kind} number, got {value!r}")
    return float(value)


class ControlApi:
    """Routes and answers the control requests."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._routes: dict[str, dict[str, Callable[[bytes], Result]]] = {
            "/health": {"GET": lambda _b: (200, {"status": "ok"})},
            "/requests": {"GET": self.get_requests, "DELETE": self.clear_requests},
            "/reset": {"POST": self.reset},
            "/faults": {"GET": self.get_faults, "POST": self.set_faults},
            "/latency": {"GET": self.get_latency, "POST": self.set_latency},
            "/rate_limit": {"GET": self.get_rate_limit, "POST": self.set_rate_limit},
            "/state": {"GET": self.get_state},
            "/connections": {"GET": self.list_connections, "POST": self.create_connection},
        }

    def handle(self, method: str, path: str, body: bytes) -> Result:
        """Answer one control request (``path`` includes the ``/_emulator`` prefix)."""
        sub = path[len(PREFIX) :].rstrip("/") or "/"
        try:
            if sub.startswith("/users/"):
                return self.user_action(method, sub[len("/users/") :])
            if sub.startswith("/connections/"):
                conn_id = sub[len("/connections/") :]
                if method == "PATCH":
                    return self.patch_connection(conn_id, body)
                if method == "DELETE":
                    return self.delete_connection(conn_id)
                return 405, {"errors": ["Method not allowed"]}
            handlers = self._routes.get(sub)
            if handlers is None:
                return 404, {"errors": [f"no control endpoint {path}"]}
            handler = handlers.get(method)
            if handler is None:
                return 405, {"errors": ["Method not allowed"]}
            return handler(body)
        except ApiFailure as exc:
            return exc.status, exc.body()

    # ------------------------------------------------------------------------ endpoints

    def get_requests(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/requests``: the request log, oldest first (a JSON list)."""
        return 200, self.runtime.log.entries()

    def clear_requests(self, _body_raw: bytes) -> Result:
        """``DELETE /_emulator/requests``."""
        self.runtime.log.clear()
        return 200, {}

    def reset(self, _body_raw: bytes) -> Result:
        """``POST /_emulator/reset``."""
        self.runtime.reset()
        return 200, {}

    def get_faults(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/faults``."""
        config = self.runtime.faults.config
        return 200, {
            "faults": config.to_json() if config is not None else None,
            "injected": self.runtime.faults.injected,
        }

    def set_faults(self, raw: bytes) -> Result:
        """``POST /_emulator/faults`` (``{}`` turns faults off)."""
        try:
            config = FaultConfig.from_json(_body(raw))
        except ValueError as exc:
            raise ApiFailure(400, str(exc)) from None
        self.runtime.faults.configure(config)
        return self.get_faults(raw)

    def get_latency(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/latency``."""
        return 200, {"ms": self.runtime.latency_ms}

    def set_latency(self, raw: bytes) -> Result:
        """``POST /_emulator/latency`` ``{"ms": N}`` (``{}``: back to the start-up latency)."""
        data = _object(raw)
        ms = _number(data, "ms") if data else self.runtime.default_latency_ms
        self.runtime.set_latency_ms(ms)
        return self.get_latency(raw)

    def get_rate_limit(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/rate_limit``."""
        return 200, self.runtime.limiter.config.to_json()

    def set_rate_limit(self, raw: bytes) -> Result:
        """``POST /_emulator/rate_limit`` ``{"limit": R, "period": P}`` (``{}``: the default)."""
        data = _object(raw)
        if not data:
            config = self.runtime.default_rate_limit
        else:
            limit = data.get("limit")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ApiFailure(400, f"limit: expected a positive integer, got {limit!r}")
            config = RateLimitConfig(limit=limit, period=_number(data, "period", positive=True))
        self.runtime.limiter.configure(config)
        return self.get_rate_limit(raw)

    def get_state(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/state``: accounts and orgs (without keys), every connection, settings."""
        seed = self.runtime.seed
        store = self.runtime.store
        accounts = [
            {
                "name": account.name,
                "parent": account.parent.id if account.parent is not None else None,
                "orgs": [
                    {
                        "id": org.id,
                        "name": org.name,
                        "public_id": org.public_id,
                        "site": org.site,
                        "enterprise": org.enterprise,
                        "users": [
                            {
                                "id": u.id,
                                "name": u.name,
                                "permissions": list(u.permissions),
                                "service_account": u.service_account,
                                "active": store.is_active(u.id),
                            }
                            for u in org.users
                        ],
                    }
                    for org in account.orgs
                ],
            }
            for account in seed.accounts
        ]
        return 200, {
            "accounts": accounts,
            "connections": store.render_many(store.all()),
            "settings": self.runtime.settings(),
        }

    def list_connections(self, _body_raw: bytes) -> Result:
        """``GET /_emulator/connections``: every connection, whatever the org."""
        store = self.runtime.store
        return 200, {"data": store.render_many(store.all())}

    def create_connection(self, raw: bytes) -> Result:
        """``POST /_emulator/connections``: out-of-band create (as if made by hand in the UI)."""
        data = _object(raw)
        seed = self.runtime.seed
        refs: dict[str, str] = {}
        for side in ("source", "sink"):
            ref = data.get(side)
            if not isinstance(ref, str) or not ref:
                raise ApiFailure(400, f"{side}: expected an org id or name")
            org = seed.resolve_org(ref)
            if org is None:
                raise ApiFailure(404, "Not found", f"{side}: no org with id or name {ref!r}")
            refs[side] = org.id
        types = data.get("connection_types")
        if not isinstance(types, list):
            raise ApiFailure(400, "connection_types: expected a list")
        source = seed.orgs_by_id[refs["source"]]
        creator_ref = data.get("created_by")
        if creator_ref is None:
            creator = self.runtime.store.default_creator(source)
        else:
            creator = source.user(str(creator_ref))
            if creator is None:
                raise ApiFailure(400, f"created_by: no user {creator_ref!r} in org {source.name!r}")
            if not self.runtime.store.is_active(creator.id):
                raise ApiFailure(400, f"created_by: user {creator.name!r} is deactivated")
        conn_id: str | None = None
        if data.get("id") is not None:
            conn_id = parse_uuid(str(data["id"]))
            if conn_id is None:
                raise ApiFailure(400, "id: expected a UUID")
        created_at = data.get("created_at")
        if created_at is not None and not isinstance(created_at, str):
            raise ApiFailure(400, "created_at: expected an ISO 8601 string")
        try:
            conn = self.runtime.store.create(
                refs["source"],
                refs["sink"],
                types,
                creator.id if creator is not None else None,
                conn_id=conn_id,
                created_at=created_at,
            )
        except ValueError as exc:  # a malformed created_at
            raise ApiFailure(400, f"created_at: {exc}") from None
        return 200, {"data": self.runtime.store.render(conn)}

    def patch_connection(self, raw_id: str, raw: bytes) -> Result:
        """``PATCH /_emulator/connections/{id}`` ``{"connection_types": [...]}``."""
        conn_id = parse_uuid(raw_id)
        if conn_id is None:
            raise ApiFailure(400, "connection id must be a valid uuid")
        data = _object(raw)
        types = data.get("connection_types")
        if not isinstance(types, list):
            raise ApiFailure(400, "connection_types: expected a list")
        conn = self.runtime.store.update(conn_id, types)
        return 200, {"data": self.runtime.store.render(conn)}

    def delete_connection(self, raw_id: str) -> Result:
        """``DELETE /_emulator/connections/{id}``: 200 ``{}``."""
        conn_id = parse_uuid(raw_id)
        if conn_id is None:
            raise ApiFailure(400, "connection id must be a valid uuid")
        self.runtime.store.delete(conn_id)
        return 200, {}

    def user_action(self, method: str, rest: str) -> Result:
        """``POST /_emulator/users/{id or name}/deactivate``."""
        user_ref, _, action = rest.rpartition("/")
        if action != "deactivate" or not user_ref:
            return 404, {"errors": [f"no control endpoint {PREFIX}/users/{rest}"]}
        if method != "POST":
            return 405, {"errors": ["Method not allowed"]}
        return self.deactivate_user(unquote(user_ref))

    def deactivate_user(self, user_ref: str) -> Result:
        """Deactivate a user: its application keys answer 403 from now on, and every connection
        it created is deleted (what Datadog does). 200 with the user and the deleted connections."""
        store = self.runtime.store
        done = store.deactivate(user_ref)
        return 200, {
            "user": {"id": done.user.id, "name": done.user.name, "org_id": done.org.id, "active": False},
            "was_active": done.was_active,
            "deleted_connections": store.render_many(done.deleted),
        }

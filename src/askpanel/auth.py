"""Who may call the server: ASKPANEL_AUTH checked against Basic or Bearer credentials."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

Credentials = tuple[str, str]
CHALLENGE = 'Bearer realm="askpanel", Basic realm="askpanel"'


def parse_auth(auth: str) -> Credentials | None:
    """ASKPANEL_AUTH as (user, password); None when unset. A malformed value stops the server, never opens it."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("ASKPANEL_AUTH must look like user:password")
    return user, password


def _same(given: str, wanted: str) -> bool:
    return hmac.compare_digest(given.encode(), wanted.encode())


def authorized(header: str | None, credentials: Credentials | None) -> bool:
    """Whether an Authorization header carries the configured login; always True when no login is set.

    Accepted: `Basic base64(user:password)`, `Bearer user:password`, or `Bearer password` — OpenAI clients
    send their API key as a bearer token, and most have a single box for it.
    """
    if credentials is None:
        return True
    scheme, _, value = (header or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    user, password = credentials
    if scheme == "bearer":
        # Both comparisons always run, so the time taken does not tell which form was tried.
        return _same(value, password) | _same(value, f"{user}:{password}")
    if scheme != "basic":
        return False
    try:
        given_user, sep, given_password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return bool(sep) and _same(given_user, user) & _same(given_password, password)


class Guarded:
    """An ASGI app that answers HTTP requests without the login with 401 and a JSON body, before `app` sees them.

    A class, not a function: Starlette would take a plain function for a request-response endpoint.
    """

    def __init__(self, app: Any, credentials: Credentials, body: dict[str, Any]) -> None:
        self.app, self.credentials, self.payload = app, credentials, json.dumps(body).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not authorized(header, self.credentials):
                headers = [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", CHALLENGE.encode()),
                    (b"content-length", str(len(self.payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": self.payload})
                return
        await self.app(scope, receive, send)


def guard_asgi(app: Any, credentials: Credentials | None, body: dict[str, Any]) -> Any:
    """`app` behind the login, or `app` itself when no login is set."""
    return app if credentials is None else Guarded(app, credentials, body)

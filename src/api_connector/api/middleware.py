"""Around every handler: a request id, authentication by route group, errors rendered, one access line.

Each handler is wrapped once, when its route is added (``Routes``), instead of running through an
aiohttp middleware: aiohttp's middleware chain adds a partial, a cached builder and its own
``current_app`` middleware to every request, several percent of a proxied request's CPU. Paths no
route matches reach the same wrapper through a catch-all route added last (``add_fallback``).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable

import brotli
from aiohttp import web

from api_connector.api.anthropic_errors import anthropic_error_body, uses_anthropic_shape
from api_connector.api.render import envelope_error, error_headers, json_response, openai_error_body
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES, STARTED, Services
from api_connector.auth.keys import Scope
from api_connector.errors import (
    ConnectorError,
    InvalidAPIKey,
    MethodNotAllowed,
    PayloadTooLarge,
    PermissionDenied,
    RouteNotFound,
    ValidationFailed,
)
from api_connector.observability.logging import client_var, get_logger, request_id_var

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = get_logger("api_connector.http")

# Which scope each route group needs; anything else under /v1 or /admin is inference / admin.
_SCOPES: tuple[tuple[str, Scope], ...] = (
    ("/v1/requests", Scope.REQUESTS),
    ("/v1/", Scope.INFERENCE),
    ("/admin/", Scope.ADMIN),
)
REQUEST_ID_HEADER = "x-request-id"


def _required_scope(path: str) -> Scope | None:
    for prefix, scope in _SCOPES:
        if path.startswith(prefix):
            return scope
    return None


def uses_envelope(path: str) -> bool:
    return path.startswith("/v1/requests")


class Routes:
    """``app.router``'s ``add_*`` methods, with every handler wrapped by ``gateway``."""

    __slots__ = ("_router",)

    def __init__(self, app: web.Application) -> None:
        self._router = app.router

    def add_get(self, path: str, handler: Handler) -> None:
        self._router.add_get(path, gateway(handler))

    def add_post(self, path: str, handler: Handler) -> None:
        self._router.add_post(path, gateway(handler))

    def add_put(self, path: str, handler: Handler) -> None:
        self._router.add_put(path, gateway(handler))

    def add_delete(self, path: str, handler: Handler) -> None:
        self._router.add_delete(path, gateway(handler))

    def add_fallback(self) -> None:
        """Last of all: a route for any method and path, answering 404 or 405 as the other routes say."""
        resource = self._router.add_resource("/{tail:.*}")

        async def unmatched(request: web.Request) -> web.StreamResponse:
            allowed: set[str] = set()
            for other in request.app.router.resources():
                if other is not resource:
                    allowed |= (await other.resolve(request))[1]
            if allowed:
                raise MethodNotAllowed("method not allowed on this route")
            raise RouteNotFound("no such route")

        resource.add_route("*", gateway(unmatched))


def gateway(handler: Handler) -> Handler:
    """The handler inside the gateway's request handling (see the module's docstring).

    One coroutine per request, the handler's own awaited inside it: no layer between the two.
    """

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        services: Services = request.app[SERVICES]
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else services.request_ids.next()
        token = request_id_var.set(request_id)
        client = request.remote or ""
        client_token = client_var.set(client)
        started = time.perf_counter()
        request[REQUEST_ID] = request_id
        request[STARTED] = started
        status = 500
        try:
            try:
                scope = _required_scope(request.path)
                if scope is not None:
                    await _authenticated(request, services, client, scope)
                response = await handler(request)
            except Exception as exc:
                if isinstance(exc, PermissionDenied):
                    _denied(request, services, exc)
                response = _failure_response(request, services, exc)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
                _maybe_compress(request, response, services.settings.compression_min_bytes)
            return response
        finally:
            if services.access_log is not None:
                elapsed = (time.perf_counter() - started) * 1000
                services.access_log.record(request.method, request.path, status, elapsed, request_id)
            request_id_var.reset(token)
            client_var.reset(client_token)

    return handle


async def _authenticated(request: web.Request, services: Services, client: str, scope: Scope) -> None:
    """The caller's principal (kept on the request) for a route needing ``scope``; an address that keeps
    presenting invalid keys is turned away before its key is looked at, and every invalid key is a
    security event."""
    throttle = services.auth_throttle
    if throttle is not None:
        throttle.check(client)
    authorization, x_api_key = request.headers.get("Authorization"), request.headers.get("x-api-key")
    if authorization is None and x_api_key is None:
        authorization = _websocket_key(request)
    try:
        principal = await services.authenticator.authenticate(authorization, x_api_key)
    except InvalidAPIKey:
        presented = (authorization or "") + (x_api_key or "")
        pending = services.recorder.audit_soon(
            request_id=request[REQUEST_ID],
            actor_key_id=None,
            project_id=None,
            action="security.auth_failed",
            target_type="gateway_key",
            # A short fingerprint of what was presented, never the key: repeated tries show as one value.
            target_id=hashlib.sha256(presented.encode()).hexdigest()[:12],
            outcome="failure",
            details={"route": _route_pattern(request)},
        )
        if pending is not None:
            await pending
        if throttle is not None:
            await throttle.failed(client)
        raise
    request[PRINCIPAL] = principal  # before the scope check: a denial names who was denied
    principal.require(scope)


# A browser cannot set headers on a WebSocket: it may offer its key as this subprotocol instead
# (``new WebSocket(url, ["api-connector.live", "api-connector.key." + key])``). The server selects
# another of the offered subprotocols, never this one, so the key is not sent back.
WEBSOCKET_KEY_PROTOCOL = "api-connector.key."


def _websocket_key(request: web.Request) -> str | None:
    """The key a WebSocket upgrade offers as a subprotocol, as an Authorization value; None without one."""
    offered = request.headers.get("Sec-WebSocket-Protocol")
    if not offered or request.headers.get("Upgrade", "").lower() != "websocket":
        return None
    for protocol in offered.split(","):
        protocol = protocol.strip()
        if protocol.startswith(WEBSOCKET_KEY_PROTOCOL):
            return "Bearer " + protocol[len(WEBSOCKET_KEY_PROTOCOL) :]
    return None


def _route_pattern(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "?"


def _denied(request: web.Request, services: Services, error: PermissionDenied) -> None:
    """A permission denial is a security event: who tried what (the queue's back-pressure is not waited
    for here: the answer goes out either way and the record follows)."""
    principal = request.get(PRINCIPAL)
    services.recorder.audit_soon(
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id if principal is not None else None,
        project_id=principal.project_id if principal is not None else None,
        action="security.permission_denied",
        target_type="route",
        # The route's pattern, not the path: a path may carry another project's names the caller tried.
        target_id=f"{request.method} {_route_pattern(request)}"[:255],
        outcome="failure",
        # The code, not the message: a message may repeat what the caller named (another project's id).
        details={"code": error.code},
    )


def _failure_response(request: web.Request, services: Services, exc: Exception) -> web.StreamResponse:
    """The answer to a handler that raised: the error rendered, never a bare traceback."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = services.settings.max_body_bytes
        return render_error(request, PayloadTooLarge(f"request body exceeds the limit of {limit} bytes"))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc  # a redirect is an answer, not a failure
        return render_error(request, _http_exception(exc))
    if isinstance(exc, ConnectorError):
        return render_error(request, exc)
    log.exception("unhandled error", path=request.path)
    return render_error(request, ConnectorError("internal error; see the service log"))


def _maybe_compress(request: web.Request, response: web.StreamResponse, threshold: int) -> None:
    """br, gzip or deflate, as the client accepts, for whole answers large enough to be worth it.

    aiohttp compresses gzip and deflate itself; br it does not, so that one is done here (quality 4:
    most of brotli's gain at a fraction of its highest setting's cost). Streams are left alone:
    compressing them would hold events back in the compressor's buffer.
    """
    if not threshold or not isinstance(response, web.Response) or "Content-Encoding" in response.headers:
        return
    body = response.body
    if not isinstance(body, bytes) or len(body) < threshold:
        return
    accepted = _accepted_encodings(request.headers.get("Accept-Encoding", ""))
    if "br" in accepted:
        response.body = brotli.compress(body, quality=4)
        response.headers["Content-Encoding"] = "br"
        response.headers["Vary"] = "Accept-Encoding"
    elif accepted & {"gzip", "deflate"}:
        response.enable_compression()


def _accepted_encodings(header: str) -> set[str]:
    accepted = set()
    for item in header.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            accepted.add(name)
    return accepted


def _http_exception(exc: web.HTTPException) -> ConnectorError:
    if exc.status == 404:
        return RouteNotFound("no such route")
    if exc.status == 405:
        return MethodNotAllowed("method not allowed on this route")
    if 400 <= exc.status < 500:
        return ValidationFailed(exc.reason or "bad request")
    return ConnectorError(exc.reason or "error")


def render_error(request: web.Request, error: ConnectorError) -> web.Response:
    services: Services = request.app[SERVICES]
    status = error.with_status()
    headers = error_headers(error)
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    if error.status >= 500 or error.provider:
        log.warning("request failed", code=error.code, provider=error.provider, error=error.message)
    if uses_envelope(request.path):
        elapsed = (time.perf_counter() - request[STARTED]) * 1000
        body = {
            "success": False,
            "error": envelope_error(error, services.redactor),
            "metadata": {
                "provider": error.provider,
                "response_time_ms": round(elapsed, 2),
                "cached": False,
                "request_id": request[REQUEST_ID],
            },
        }
        return json_response(body, status, headers)
    if uses_anthropic_shape(request.path):
        return json_response(anthropic_error_body(error, services.redactor, request[REQUEST_ID]), status, headers)
    return json_response(openai_error_body(error, services.redactor), status, headers)

"""The gateway's aiohttp application: authenticate, limit, read, validate, publish, answer.

The order of the checks and what each answers are described in `producers.gateway`; the
handlers here follow it, and one middleware counts and logs every answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from cashless.anonymise import Anonymiser
from cashless.schema import Event
from cashless.taxonomy import Taxonomy
from cashless.topics import Topics
from producers.gateway.errors import PublishError
from producers.gateway.metrics import GatewayMetrics, Kind
from producers.gateway.openapi import openapi_document
from producers.gateway.publisher import Publisher, build_records
from producers.gateway.ratelimit import RateLimiter
from producers.gateway.responses import Accepted, ErrorBody, ItemError
from producers.gateway.settings import GatewaySettings
from producers.gateway.tokens import TokenEntry, TokenVerifier
from producers.gateway.validation import ItemValidator

__all__ = ["REALM", "Gateway"]

# One logger name for the whole gateway (not one per module): what operators filter on.
logger = logging.getLogger("producers.gateway")
access_logger = logging.getLogger("producers.gateway.access")

REALM = "cashless-gateway"

_SOURCE = web.RequestKey("cashless_source", str)
_ITEMS = web.RequestKey("cashless_items", int)
_ERROR = web.RequestKey("cashless_error", str)
_ROUTES = {
    "/v1/payments": "payments",
    "/v1/accounts": "accounts",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
    "/openapi.json": "openapi",
}
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
_encoder = msgspec.json.Encoder()
_json_any = msgspec.json.Decoder()


class _Reject(Exception):
    """Raised inside a handler: answer with this status and JSON error body."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[ItemError] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.errors = errors
        self.close = close

    def response(self) -> web.Response:
        errors = msgspec.UNSET if self.errors is None else self.errors
        body = ErrorBody(self.error, self.message, errors)
        response = _json_response(body, status=self.status, headers=self.headers)
        if self.close:  # the rest of the request is not read: the connection cannot go on
            response.force_close()
        return response


def _json_response(
    body: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encoder.encode(body), status=status, headers=headers, content_type="application/json"
    )


class Gateway:
    """The gateway's logic and its aiohttp application (`app`); see `producers.gateway`."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        taxonomy: Taxonomy,
        anonymiser: Anonymiser,
        verifier: TokenVerifier,
        publisher: Publisher,
        topics: Topics,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.publisher = publisher
        self.metrics = GatewayMetrics(registry if registry is not None else CollectorRegistry())
        self.metrics.kafka_ready.set_function(lambda: 1.0 if publisher.ready else 0.0)
        self._validator = ItemValidator(
            taxonomy, anonymiser, clock=clock, max_body_bytes=settings.max_body_bytes
        )
        self._verifier = verifier
        self._limiter = RateLimiter(
            settings.rate_limit_per_second, settings.rate_limit_burst, clock=monotonic
        )
        self._openapi = _encoder.encode(openapi_document(settings, taxonomy))
        self.app = self._build_app()

    def validate(
        self, kind: Kind, items: Sequence[Any], source: str
    ) -> tuple[list[Event], list[ItemError]]:
        """Anonymise and decode every item: the accepted events, or the errors by item index."""
        return self._validator.validate(kind, items, source)

    # -- aiohttp ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.max_body_bytes, middlewares=[self._observe]
        )
        app.router.add_post("/v1/payments", self._payments)
        app.router.add_post("/v1/accounts", self._accounts)
        app.router.add_get("/healthz", self._healthz, allow_head=True)
        app.router.add_get("/readyz", self._readyz, allow_head=True)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/openapi.json", self._openapi_json)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        await self.publisher.start()

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.publisher.stop()

    @web.middleware
    async def _observe(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except _Reject as reject:
            request[_ERROR] = reject.error
            response = reject.response()
        except web.HTTPException as exc:
            error = _HTTP_ERRORS.get(exc.status, "http_error")
            request[_ERROR] = error
            headers = {k: v for k, v in exc.headers.items() if k == hdrs.ALLOW}
            response = _json_response(
                ErrorBody(error, exc.reason), status=exc.status, headers=headers
            )
        except Exception:
            logger.exception("unexpected error answering %s %s", request.method, _route(request))
            request[_ERROR] = "internal_error"
            response = _json_response(
                ErrorBody("internal_error", "unexpected error; nothing was sent"), status=500
            )
        elapsed = time.perf_counter() - started
        route = _route(request)
        endpoint = _ROUTES.get(route, "other")
        self.metrics.requests.labels(endpoint, str(response.status)).inc()
        self.metrics.duration.labels(endpoint).observe(elapsed)
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                _encoder.encode(
                    {
                        "method": request.method,
                        "path": route,
                        "status": response.status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "source": request.get(_SOURCE),
                        "items": request.get(_ITEMS),
                        "error": request.get(_ERROR),
                    }
                ).decode()
            )
        return response

    async def _payments(self, request: web.Request) -> web.Response:
        return await self._ingest(request, "payments")

    async def _accounts(self, request: web.Request) -> web.Response:
        return await self._ingest(request, "accounts")

    async def _ingest(self, request: web.Request, kind: Kind) -> web.Response:
        token = self._authenticate(request)
        source = token.source
        request[_SOURCE] = source
        self._check_rate(token, kind)
        items = await self._read_items(request)
        request[_ITEMS] = len(items)
        try:
            events, errors = self.validate(kind, items, source)
        except RecursionError:  # the scrubber walks nested values recursively
            raise _too_deep() from None
        if errors:
            for error in errors:
                self.metrics.items_rejected.labels(kind, error.reason.split(":", 1)[0]).inc()
            raise _Reject(
                422,
                "invalid_items",
                f"{len(errors)} of {len(items)} items are invalid; nothing of this request was "
                "sent: fix them and send the whole request again",
                errors=errors,
            )
        records = build_records(
            events,
            self.topics,
            events_per_record=self.settings.events_per_record,
            max_record_bytes=self.settings.max_record_bytes,
        )
        try:
            await self.publisher.publish(records, self.settings.send_timeout_seconds)
        except PublishError:
            self.metrics.events_unavailable.labels(kind).inc(len(events))
            # The cause (with Kafka's address) is logged by the publisher, not told to clients.
            raise _Reject(
                503,
                "kafka_unavailable",
                "Kafka is unavailable, so nothing of this request is confirmed: send the whole "
                "request again after Retry-After seconds",
                headers={hdrs.RETRY_AFTER: str(self.settings.retry_after_seconds)},
            ) from None
        self.metrics.events_accepted.labels(kind).inc(len(events))
        self.metrics.records_sent.labels(kind).inc(len(records))
        return _json_response(Accepted(len(events), len(records)), status=202)

    def _check_rate(self, token: TokenEntry, kind: Kind) -> None:
        wait = self._limiter.acquire(token.id)
        if wait > 0:
            self.metrics.rate_limited.labels(kind).inc()
            raise _Reject(
                429,
                "rate_limited",
                f"this token may send {self._limiter.rate:g} requests/s (bursts of "
                f"{self._limiter.burst}); nothing of this request was read: send it again after "
                "Retry-After seconds",
                headers={hdrs.RETRY_AFTER: str(max(1, math.ceil(wait)))},
            )

    def _authenticate(self, request: web.Request) -> TokenEntry:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if not header:
            raise _Reject(
                401,
                "missing_token",
                "send `Authorization: Bearer <token>` (issued by `cashless gateway token add`)",
                headers={hdrs.WWW_AUTHENTICATE: f'Bearer realm="{REALM}"'},
            )
        scheme, _, token = header.strip().partition(" ")
        entry = self._verifier.entry_of(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise _Reject(
                401,
                "invalid_token",
                "the bearer token is unknown, revoked or expired",
                headers={hdrs.WWW_AUTHENTICATE: f'Bearer realm="{REALM}", error="invalid_token"'},
            )
        return entry

    async def _read_items(self, request: web.Request) -> list[Any]:
        if hdrs.CONTENT_TYPE in request.headers and not _is_json(request.content_type):
            raise _Reject(
                415,
                "unsupported_media_type",
                "send the events with `Content-Type: application/json`",
            )
        limit = self.settings.max_body_bytes
        too_large = _Reject(413, "body_too_large", f"the body is larger than {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        try:
            async with asyncio.timeout(self.settings.client_timeout_seconds):
                body = await request.read()
        except TimeoutError:
            raise _Reject(
                408,
                "body_timeout",
                f"the body did not arrive within {self.settings.client_timeout_seconds:g} s",
                close=True,
            ) from None
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        except ConnectionResetError:  # the client left mid-body: a client error, not a 500
            raise _Reject(
                400, "incomplete_body", "the connection closed before the whole body arrived"
            ) from None
        try:
            parsed = _json_any.decode(body)
        except UnicodeDecodeError:  # msgspec raises it for invalid UTF-8 inside a string
            raise _Reject(400, "bad_utf8", "the body is not valid UTF-8") from None
        except RecursionError:
            raise _too_deep() from None
        except msgspec.DecodeError as exc:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise _Reject(400, "bad_utf8", "the body is not valid UTF-8") from None
            raise _Reject(400, "bad_json", f"the body is not JSON: {exc}") from None
        if isinstance(parsed, dict):
            return [parsed]
        if not isinstance(parsed, list):
            raise _Reject(
                400, "not_an_array_or_object", "send a JSON array of events, or one event object"
            )
        if not parsed:
            raise _Reject(400, "empty_batch", "the array holds no event")
        if len(parsed) > self.settings.max_batch:
            raise _Reject(
                413,
                "too_many_items",
                f"{len(parsed)} items; send at most {self.settings.max_batch} per request",
            )
        return parsed

    async def _healthz(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.publisher.ready:
            return _json_response({"status": "ready", "kafka": "connected"})
        return _json_response(
            {"status": "not_ready", "kafka": "unreachable"},
            status=503,
            headers={hdrs.RETRY_AFTER: str(self.settings.retry_after_seconds)},
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={hdrs.CONTENT_TYPE: CONTENT_TYPE_LATEST},
        )

    async def _openapi_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")


def _too_deep() -> _Reject:
    return _Reject(400, "too_deeply_nested", "the body nests objects or arrays too deeply")


def _route(request: web.Request) -> str:
    """The matched route's path, never the raw path (which could hold anything a client sent)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "other"


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")

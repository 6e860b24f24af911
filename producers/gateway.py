"""The HTTP gateway: utilities push events over HTTP, the gateway answers once Kafka has them.

Endpoints (described in full by the OpenAPI document the gateway serves at `/openapi.json`):

    POST /v1/payments   a JSON array of payment events (or one object)  -> payments.events
    POST /v1/accounts   a JSON array of account events (or one object)  -> payments.accounts
    GET  /healthz       the process is alive
    GET  /readyz        200 while Kafka answers the producer, else 503
    GET  /metrics       the gateway's own Prometheus metrics
    GET  /openapi.json  the API description

A push is checked in this order, and the first failure answers:

1. `401` without a bearer token, with one that is unknown, revoked or expired
   (`WWW-Authenticate: Bearer`);
   then `429` with `Retry-After` when the token sent more than its rate allows (a token bucket
   per token: `rate_limit_per_second` refill, `rate_limit_burst` capacity; see
   `producers.gateway_ratelimit`);
2. `415` with a Content-Type that is not JSON (no Content-Type is read as JSON);
3. `413` when the body is larger than `max_body_bytes` (default 1 MiB);
4. `400` when the body is not UTF-8 JSON, is neither an array nor an object, is empty,
   nests too deeply, or the client closed the connection before sending all of it;
5. `413` when it holds more than `max_batch` items (default 500);
6. `422` when any item is invalid. Every item is anonymised first (`cashless.anonymise`:
   personal fields dropped, `payer`/`holder` pseudonymised), then decoded with the shared
   `EventDecoder` (contract 1), and its `source` must be the token's own (else the item's reason
   is `source_mismatch`: a token can only ever send for its source, and the error names which
   items were wrong); `payer`/`holder` must be a string or an integer (anything else there is
   `invalid_field:payer`/`holder`, not hashed into a pseudonym). The body lists
   `{"index", "reason", "detail"}` per bad item, and NOTHING of the request is sent: a request
   is all or nothing, so a client fixes it and sends it whole again. Validation comes before
   the Kafka check, so that a bad batch is told so even during an outage instead of being
   retried forever;
7. `503` with `Retry-After` when Kafka is unreachable or did not acknowledge in time;
8. `202` with `{"accepted": n, "records": k}` only after Kafka acknowledged every record
   (acks=all, idempotent producer).

Payment events go out grouped by their key `channel:segment` into JSON-array records, account
events by `holder`, at most `events_per_record` events and `max_record_bytes` bytes per record
(contract 1). A request answered 503 may still have reached Kafka in part (a send that timed
out can complete later); re-sending it is safe because workers deduplicate on
`(source, event_id)`. A request answered 202 is in Kafka.

With `tls_cert` and `tls_key` (PEM files) the gateway serves HTTPS only (TLS 1.2 or later);
without them, plain HTTP, for use behind a TLS-terminating proxy or on a private network.

The gateway never logs bodies or tokens: one structured access-log line per request names the
method, the route, the status, the duration, the token's source and the item count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec
from aiohttp import hdrs, web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless import __version__
from cashless.anonymise import Anonymiser
from cashless.errors import CashlessError
from cashless.schema import (
    DEFAULT_MAX_RECORD_BYTES,
    Event,
    EventDecoder,
    PaymentEvent,
    encode,
    encode_batch,
)
from cashless.settings import KafkaSettings
from cashless.taxonomy import CHANNELS, METHODS, Taxonomy
from cashless.topics import Topics, ensure_topics
from producers.gateway_ratelimit import RateLimiter
from producers.gateway_tokens import DEFAULT_TOKENS_FILE, TokenEntry, TokenVerifier

__all__ = [
    "Gateway",
    "GatewayError",
    "GatewayMetrics",
    "GatewaySettings",
    "ItemError",
    "KafkaPublisher",
    "Kind",
    "OutRecord",
    "PublishError",
    "Publisher",
    "build_records",
    "openapi_document",
    "run_gateway",
]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("producers.gateway.access")

Kind = Literal["payments", "accounts"]
KINDS: tuple[Kind, ...] = ("payments", "accounts")
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


class GatewaySettings(BaseSettings):
    """The gateway's address, limits, tokens file and producer tuning (env `CASHLESS_GATEWAY_*`).

    Kafka's address and the topic prefix are `KafkaSettings` (`CASHLESS_BOOTSTRAP_SERVERS`,
    `CASHLESS_TOPIC_PREFIX`), shared with every other command.
    """

    model_config = SettingsConfigDict(env_prefix="CASHLESS_GATEWAY_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_batch: int = Field(default=500, ge=1, le=100_000, description="Most items per request.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    tokens_file: Path = DEFAULT_TOKENS_FILE
    # The benchmark pushes 20,000 events/s as 40 requests/s of 500: the default leaves room.
    rate_limit_per_second: float = Field(
        default=100.0, ge=0, le=1_000_000, description="Requests/s per token; 0 = no limit."
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, le=1_000_000, description="Requests a token may send at once."
    )
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # A client that holds a connection without finishing its request (slow headers or body)
    # is cut off after this; also how long an idle keep-alive connection stays open.
    client_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    events_per_record: int = Field(default=500, ge=1, le=100_000)
    max_record_bytes: int = Field(
        default=DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
        ge=1024,
        le=DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
    )
    linger_ms: int = Field(default=2, ge=0, le=60_000)
    compression: Literal["lz4", "gzip", "none"] = "lz4"
    probe_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    shutdown_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    create_topics: bool = True
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key of `tls_cert`.")

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key for HTTPS, or neither for HTTP")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context of `tls_cert`/`tls_key`, or None for plain HTTP."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise GatewayError(
                f"cannot load the TLS certificate {self.tls_cert} and key {self.tls_key}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
        return context


class GatewayError(CashlessError):
    """The gateway cannot start as configured (port in use, no tokens, …)."""


class PublishError(CashlessError):
    """Kafka did not take the records: unreachable, failed or not acknowledged in time."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One Kafka record the gateway sends: its topic, key, value and how many events it holds."""

    topic: str
    key: bytes
    value: bytes
    events: int


class Publisher(Protocol):
    """Where accepted records go: `KafkaPublisher`, or a fake in unit tests."""

    @property
    def ready(self) -> bool:
        """True while records can be sent (Kafka answers)."""

    async def start(self) -> None:
        """Begin connecting (in the background: the gateway starts even while Kafka is down)."""

    async def stop(self) -> None:
        """Deliver what is pending, within the shutdown timeout, and disconnect."""

    async def publish(self, records: Sequence[OutRecord], timeout: float) -> None:
        """Return once Kafka acknowledged every record; raise `PublishError` otherwise."""


class ItemError(msgspec.Struct, frozen=True):
    """Why one item of a request was refused: its index in the batch, a reason code, a detail."""

    index: int
    reason: str
    detail: str


# -- records ---------------------------------------------------------------------------------------


def build_records(
    events: Sequence[Event],
    topics: Topics,
    *,
    events_per_record: int = 500,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
) -> list[OutRecord]:
    """The Kafka records for accepted events: grouped per key, a JSON object for one event and
    an array for several, split so that no record exceeds `max_record_bytes`."""
    groups: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        if isinstance(event, PaymentEvent):
            groups.setdefault((topics.events, event.key), []).append(event)
        else:
            groups.setdefault((topics.accounts, event.holder), []).append(event)
    records: list[OutRecord] = []
    for (topic, key), group in groups.items():
        for start in range(0, len(group), events_per_record):
            _append_records(
                records,
                topic,
                key.encode(),
                group[start : start + events_per_record],
                max_record_bytes,
            )
    return records


def _append_records(
    out: list[OutRecord], topic: str, key: bytes, events: Sequence[Event], limit: int
) -> None:
    value = encode(events[0]) if len(events) == 1 else encode_batch(events)
    if len(value) > limit and len(events) > 1:
        half = len(events) // 2
        _append_records(out, topic, key, events[:half], limit)
        _append_records(out, topic, key, events[half:], limit)
        return
    out.append(OutRecord(topic, key, value, len(events)))


# -- Kafka -----------------------------------------------------------------------------------------


class KafkaPublisher:
    """Sends records with an idempotent aiokafka producer (acks=all) and watches Kafka's health.

    A background task connects (creating the topics once), then asks Kafka for metadata every
    `probe_interval_seconds`: `ready` follows the answers. While not ready, `publish` fails at
    once rather than queueing, so an outage costs clients a fast 503, not a timeout each. A
    non-retriable send failure discards the producer, and the task starts a fresh one.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: GatewaySettings,
        topics: Topics,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._topics = topics
        self._outage_logged = False
        self._stopping = False
        self._producer: Any = None
        self._ready = False
        self._why = "not connected to Kafka yet"
        self._topics_done = not settings.create_topics
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        """True while Kafka answers the producer."""
        return self._ready

    async def start(self) -> None:
        """Start the background task that connects and probes."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="gateway-kafka")

    async def stop(self) -> None:
        """Stop probing, deliver what is pending (bounded by the shutdown timeout), disconnect."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        producer, self._producer = self._producer, None
        self._set_ready(False, "stopped")
        if producer is not None:
            await self._close(producer)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def publish(self, records: Sequence[OutRecord], timeout: float) -> None:
        """Send the records; return once Kafka acknowledged all of them (see the class doc)."""
        producer = self._producer
        if producer is None or not self._ready:
            raise PublishError(self._why)
        try:
            async with asyncio.timeout(timeout):
                await self._send_all(producer, records)
        except TimeoutError:
            why = f"Kafka did not acknowledge within {timeout:g} s"
            self._set_ready(False, why)
            raise PublishError(why) from None
        except KafkaError as exc:
            why = f"Kafka refused the records: {_describe(exc)}"
            if getattr(exc, "retriable", False):
                logger.warning("%s", why)
            else:
                self._discard(producer, why)
            raise PublishError(why) from None

    @staticmethod
    async def _send_all(producer: Any, records: Sequence[OutRecord]) -> None:
        futures = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        # Wait for every record (retrieving every failure), then raise the first failure.
        for outcome in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _supervise(self) -> None:
        while not self._stopping:
            if self._producer is None:
                await self._connect()
            else:
                await self._probe(self._producer)
            await asyncio.sleep(self._settings.probe_interval_seconds)

    def _new_producer(self) -> Any:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=self._kafka.bootstrap_servers.split(","),
            client_id="cashless-gateway",
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=512 * 1024,
            max_request_size=DEFAULT_MAX_RECORD_BYTES,
            request_timeout_ms=int(s.connect_timeout_seconds * 1000),
            retry_backoff_ms=100,
            **self._kafka.aiokafka_config(),
        )

    async def _connect(self) -> None:
        producer = self._new_producer()
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # races with the inner call's failure, and then stop() would wait forever.
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                await producer.start()
            if not self._topics_done:
                timeout_ms = int(self._settings.connect_timeout_seconds * 1000)
                await asyncio.to_thread(
                    ensure_topics,
                    self._kafka.bootstrap_servers,
                    self._topics,
                    bootstrap_timeout_ms=timeout_ms,
                    request_timeout_ms=timeout_ms,
                    **self._kafka.kafka_python_config(),
                )
                self._topics_done = True
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                # Fetch the topics' metadata now rather than in the first request.
                await producer.partitions_for(self._topics.events)
                await producer.partitions_for(self._topics.accounts)
        except (KafkaError, CashlessError, OSError, TimeoutError) as exc:
            await self._close(producer)
            self._set_ready(
                False,
                f"cannot connect to Kafka at {self._kafka.bootstrap_servers}: {_describe(exc)}",
            )
            return
        except asyncio.CancelledError:  # stopped while connecting
            await self._close(producer)
            raise
        self._producer = producer
        self._set_ready(True, "connected")

    async def _probe(self, producer: Any) -> None:
        try:
            # A metadata request for the producer's own topics, through its own client: it also
            # refreshes the leaders the producer sends to.
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                updated = await producer.client.force_metadata_update()
            if not updated:
                raise KafkaError("no broker answered a metadata request")
        except (KafkaError, OSError, TimeoutError) as exc:
            self._set_ready(
                False, f"Kafka at {self._kafka.bootstrap_servers} does not answer: {_describe(exc)}"
            )
        else:
            self._set_ready(True, "connected")

    def _discard(self, producer: Any, why: str) -> None:
        if self._producer is not producer:
            return
        self._producer = None
        self._set_ready(False, why)
        task = asyncio.create_task(self._close(producer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, producer: Any) -> None:
        try:
            async with asyncio.timeout(self._settings.shutdown_timeout_seconds):
                await producer.stop()
        except (KafkaError, OSError, TimeoutError) as exc:
            logger.warning(
                "the Kafka producer did not close cleanly within %g s (%s): records of requests "
                "that were answered 503 may not have been delivered",
                self._settings.shutdown_timeout_seconds,
                _describe(exc),
            )

    def _set_ready(self, ready: bool, why: str) -> None:
        # One log line per outage and one per recovery, not one per failed probe or request.
        if ready and not self._ready:
            logger.info("Kafka at %s is reachable: accepting events", self._kafka.bootstrap_servers)
        elif not ready and not self._outage_logged and why != "stopped":
            logger.warning("%s: answering 503 until Kafka is back", why)
        self._outage_logged = not ready and (self._outage_logged or why != "stopped")
        self._ready = ready
        self._why = "" if ready else why


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if not text:
        return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# -- metrics ---------------------------------------------------------------------------------------


class GatewayMetrics:
    """The gateway's Prometheus metrics, created against the registry the caller passes in.

    Every label value comes from a bounded set: routes, the status codes the gateway answers
    with, the two event kinds, and reason families (`missing_field`, not `missing_field:x`).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "cashless_gateway_requests",
            "HTTP requests answered, by route and status code.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "cashless_gateway_request_duration_seconds",
            "Time to answer a request, by route.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.events_accepted = Counter(
            "cashless_gateway_events_accepted",
            "Events acknowledged by Kafka, by kind.",
            ["kind"],
            registry=registry,
        )
        self.records_sent = Counter(
            "cashless_gateway_records_sent",
            "Kafka records acknowledged, by kind.",
            ["kind"],
            registry=registry,
        )
        self.items_rejected = Counter(
            "cashless_gateway_items_rejected",
            "Invalid items refused with 422, by kind and reason family.",
            ["kind", "reason"],
            registry=registry,
        )
        self.events_unavailable = Counter(
            "cashless_gateway_events_unavailable",
            "Valid events refused with 503 because Kafka did not take them, by kind.",
            ["kind"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "cashless_gateway_rate_limited",
            "Requests refused with 429 because their token exceeded its rate, by kind.",
            ["kind"],
            registry=registry,
        )
        self.kafka_ready = Gauge(
            "cashless_gateway_kafka_ready",
            "1 while Kafka answers the gateway's producer, else 0.",
            registry=registry,
        )
        for kind in KINDS:
            self.events_accepted.labels(kind)
            self.records_sent.labels(kind)
            self.events_unavailable.labels(kind)
            self.rate_limited.labels(kind)
        self.kafka_ready.set(0)


# -- the application -------------------------------------------------------------------------------


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
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
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
    """The gateway's logic and its aiohttp application (`app`); see the module doc."""

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
        self._anonymiser = anonymiser
        self._verifier = verifier
        self._limiter = RateLimiter(
            settings.rate_limit_per_second, settings.rate_limit_burst, clock=monotonic
        )
        # Pseudonyms are longer than the identifiers they replace: the body limit is the real one.
        self._decoder = EventDecoder(
            taxonomy, clock=clock, max_record_bytes=4 * settings.max_body_bytes + 1_048_576
        )
        self._openapi = _encoder.encode(openapi_document(settings, taxonomy))
        self.app = self._build_app()

    # -- validation (pure) ---------------------------------------------------------------------

    def validate(
        self, kind: Kind, items: Sequence[Any], source: str
    ) -> tuple[list[Event], list[ItemError]]:
        """Anonymise and decode every item: the accepted events, or the errors by item index."""
        scrubbed = [self._anonymiser.anonymise(i) if isinstance(i, dict) else i for i in items]
        raw = _encoder.encode(scrubbed)
        decode = (
            self._decoder.decode_payments if kind == "payments" else self._decoder.decode_accounts
        )
        result = decode(raw)
        errors: list[ItemError] = []
        rejected: set[int] = set()
        for rejection in result.rejections:
            if rejection.index is None:  # the whole array: cannot happen below the body limit
                return [], [
                    ItemError(i, rejection.reason, rejection.detail) for i in range(len(items))
                ]
            rejected.add(rejection.index)
            errors.append(ItemError(rejection.index, rejection.reason, rejection.detail))
        indices = [i for i in range(len(items)) if i not in rejected]
        if len(indices) != len(result.events):
            raise RuntimeError("the decoder accepted events that cannot be matched to items")
        for index, event in zip(indices, result.events, strict=True):
            if event.source != source:
                detail = f"source {event.source!r} is not the token's source {source!r}"
                errors.append(ItemError(index, "source_mismatch", detail))
        # The scrubber pseudonymises any value of these fields; only identifiers are taken.
        field = "payer" if kind == "payments" else "holder"
        mistyped = {
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and not _is_identifier(item.get(field))
        }
        if mistyped:
            detail = f"`{field}` must be a string or an integer (an identifier or a pseudonym)"
            errors = [e for e in errors if e.index not in mistyped]
            errors += [ItemError(i, f"invalid_field:{field}", detail) for i in mistyped]
        errors.sort(key=lambda e: e.index)
        return list(result.events), errors

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
                {"error": error, "message": exc.reason}, status=exc.status, headers=headers
            )
        except Exception:
            logger.exception("unexpected error answering %s %s", request.method, _route(request))
            request[_ERROR] = "internal_error"
            response = _json_response(
                {"error": "internal_error", "message": "unexpected error; nothing was sent"},
                status=500,
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
        return _json_response({"accepted": len(events), "records": len(records)}, status=202)

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


def _is_identifier(value: Any) -> bool:
    return value is None or isinstance(value, str) or type(value) is int


def _too_deep() -> _Reject:
    return _Reject(400, "too_deeply_nested", "the body nests objects or arrays too deeply")


def _route(request: web.Request) -> str:
    """The matched route's path, never the raw path (which could hold anything a client sent)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "other"


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


# -- running ---------------------------------------------------------------------------------------


async def run_gateway(
    gateway: Gateway,
    *,
    stop: asyncio.Event | None = None,
    started: Callable[[str], None] | None = None,
) -> None:
    """Serve until `stop` is set (default: until SIGINT or SIGTERM), then shut down cleanly.

    In-flight requests finish (each bounded by the send timeout) before the producer stops.
    Raises `GatewayError` when the address cannot be bound.
    """
    settings = gateway.settings
    tls = settings.ssl_context()
    loop = asyncio.get_running_loop()
    signals: tuple[signal.Signals, ...] = ()
    if stop is None:
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        gateway.app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=settings.send_timeout_seconds + 1,
        # aiohttp closes a connection that has not sent a whole request head by then
        keepalive_timeout=settings.client_timeout_seconds,
        # after an answer given before the whole body was read (408, 413), read and drop the
        # rest for at most a second so the client sees the answer, then close (aiohttp: 10 s)
        lingering_time=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=tls)
        try:
            await site.start()
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}; "
                "is another process using the port? choose another with --port "
                "(or CASHLESS_GATEWAY_PORT)"
            ) from None
        if started is not None:
            scheme = "http" if tls is None else "https"
            started(f"{scheme}://{settings.host}:{settings.port}")
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in signals:
            loop.remove_signal_handler(signum)


# -- OpenAPI ---------------------------------------------------------------------------------------


def openapi_document(settings: GatewaySettings, taxonomy: Taxonomy) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the gateway's API, with the live taxonomy and limits."""
    common: dict[str, Any] = {
        "schema": {"type": "integer", "enum": [1], "description": "Event schema version."},
        "event_id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._:-]{1,64}$",
            "description": "Unique within the source; (source, event_id) is the dedup key, so "
            "re-sending an event is harmless.",
        },
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "Event time, RFC 3339 with offset; at most a few minutes ahead.",
        },
        "source": {
            "type": "string",
            "pattern": "^[a-z0-9-]{1,64}$",
            "description": "Must be the source the bearer token was issued for.",
        },
        "district": {"type": "string", "enum": sorted(taxonomy.districts)},
    }
    extra = (
        "Other fields are allowed and ignored; personal ones (names, phone numbers, ID, card and "
        "account numbers, emails, addresses) are dropped by the gateway before anything is sent."
    )
    payment = {
        "type": "object",
        "description": "A payment event (contract 1). " + extra,
        "required": [
            "schema",
            "event_id",
            "occurred_at",
            "source",
            "channel",
            "segment",
            "district",
            "method",
            "amount_vnd",
        ],
        "properties": {
            **common,
            "channel": {"type": "string", "enum": list(CHANNELS)},
            "segment": {
                "type": "string",
                "enum": sorted({segment for _, segment in taxonomy.segments}),
                "description": "A segment of the event's channel in the taxonomy.",
            },
            "method": {"type": "string", "enum": list(METHODS)},
            "amount_vnd": {"type": "integer", "minimum": 1, "maximum": 10**12},
            "payer": {
                "type": ["string", "integer", "null"],
                "description": "The payer's identifier (phone, ID or wallet number); the gateway "
                "replaces it with a keyed pseudonym.",
            },
        },
    }
    account = {
        "type": "object",
        "description": "An e-payment account opened or closed (contract 1). " + extra,
        "required": ["schema", "event_id", "occurred_at", "source", "type", "holder", "district"],
        "properties": {
            **common,
            "type": {"type": "string", "enum": ["opened", "closed"]},
            "holder": {
                "type": ["string", "integer"],
                "minLength": 1,
                "description": "The holder's identifier; the gateway replaces it with a keyed "
                "pseudonym (the same person gets the same pseudonym from every provider).",
            },
        },
    }
    error = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A machine-readable error code."},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ItemError"}},
        },
    }
    item_error = {
        "type": "object",
        "required": ["index", "reason", "detail"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "reason": {
                "type": "string",
                "description": "missing_field:<f>, invalid_field:<f>, not_an_object, "
                "unsupported_schema, unknown_channel, unknown_method, unknown_type, "
                "unknown_segment, unknown_district, future_timestamp or source_mismatch.",
            },
            "detail": {"type": "string"},
        },
    }
    accepted = {
        "type": "object",
        "required": ["accepted", "records"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 1, "description": "Events now in Kafka."},
            "records": {"type": "integer", "minimum": 1, "description": "Kafka records written."},
        },
    }

    def err(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if headers:
            response["headers"] = headers
        return response

    retry_after = {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
    }
    authenticate = {
        "WWW-Authenticate": {"description": "The bearer challenge.", "schema": {"type": "string"}}
    }
    rate_limit = (
        f"The token sent more than {settings.rate_limit_per_second:g} requests/s (bursts of "
        f"{settings.rate_limit_burst}); nothing was read or sent: retry after Retry-After seconds."
        if settings.rate_limit_per_second > 0
        else "Not answered: this gateway has no rate limit."
    )

    def push(kind: str, schema: str, topic: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        return {
            "post": {
                "operationId": f"push_{kind}",
                "summary": f"Push {kind} events",
                "description": f"Anonymises, validates and sends the events to `{topic}`. All or "
                "nothing: any invalid item refuses the whole request (422) and nothing is sent. "
                "202 only once Kafka acknowledged every event.",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    ref,
                                    {
                                        "type": "array",
                                        "items": ref,
                                        "minItems": 1,
                                        "maxItems": settings.max_batch,
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Every event is in Kafka.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "400": err("The body is not UTF-8 JSON, not an array or object, or empty."),
                    "401": err(
                        "No bearer token, or an unknown, revoked or expired one.", authenticate
                    ),
                    "408": err(
                        f"The body did not arrive within {settings.client_timeout_seconds:g} s; "
                        "the connection is closed."
                    ),
                    "413": err(
                        f"The body is over {settings.max_body_bytes} bytes or holds more than "
                        f"{settings.max_batch} items."
                    ),
                    "415": err("The Content-Type is not JSON."),
                    "422": err("Some items are invalid (listed in `errors`); nothing was sent."),
                    "429": err(rate_limit, retry_after),
                    "503": err(
                        "Kafka is unreachable or did not acknowledge; retry later.", retry_after
                    ),
                },
            }
        }

    def probe(operation: str, summary: str, ok: str) -> dict[str, Any]:
        content = {"application/json": {"schema": {"type": "object"}}}
        return {
            "get": {
                "operationId": operation,
                "summary": summary,
                "responses": {"200": {"description": ok, "content": content}},
            }
        }

    readyz = probe("readyz", "Readiness", "Kafka answers the producer.")
    readyz["get"]["responses"]["503"] = {
        "description": "Kafka does not answer.",
        "headers": retry_after,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    metrics = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics of the gateway",
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cashless Monitor gateway",
            "version": __version__,
            "description": "Utilities, market boards and street operators push payment and "
            "account events (event schema v1). Personal data is removed or pseudonymised at the "
            "gateway before anything reaches Kafka.",
        },
        "paths": {
            "/v1/payments": push("payments", "PaymentInput", "payments.events"),
            "/v1/accounts": push("accounts", "AccountInput", "payments.accounts"),
            "/healthz": probe("healthz", "Liveness", "The process is alive."),
            "/readyz": readyz,
            "/metrics": metrics,
            "/openapi.json": probe("openapi", "OpenAPI document", "This document."),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `cashless gateway token add SOURCE`.",
                }
            },
            "schemas": {
                "PaymentInput": payment,
                "AccountInput": account,
                "Accepted": accepted,
                "Error": error,
                "ItemError": item_error,
            },
        },
    }

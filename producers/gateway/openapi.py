"""The gateway's OpenAPI 3.1 document, served at `/openapi.json`.

Every body schema is derived from a struct with `msgspec.json.schema_components`: the events
from `cashless.schema` (contract 1), the answers from `producers.gateway.responses`. What is
written here is only what a struct cannot say: the live taxonomy's districts and segments,
that the gateway takes a raw `payer`/`holder` identifier where Kafka carries its pseudonym,
descriptions for senders, and the paths, responses and security scheme.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from cashless import __version__
from cashless.schema import AccountEvent, PaymentEvent
from cashless.taxonomy import Taxonomy
from producers.gateway.responses import Accepted, ErrorBody, ItemError
from producers.gateway.settings import GatewaySettings

__all__ = ["EXAMPLES", "REJECTED_DETAIL", "openapi_document"]

_REF = "#/components/schemas/{name}"

# Component name -> the struct it is derived from. The events are what a sender pushes (an
# input, hence the names); the rest are the gateway's answers.
_STRUCTS: dict[str, type[msgspec.Struct]] = {
    "PaymentInput": PaymentEvent,
    "AccountInput": AccountEvent,
    "Accepted": Accepted,
    "Error": ErrorBody,
    "ItemError": ItemError,
}

_EXTRA = (
    "Other fields are allowed and ignored; personal ones (names, phone numbers, ID, card and "
    "account numbers, emails, addresses) are dropped by the gateway before anything is sent."
)
_DESCRIPTIONS = {
    "PaymentInput": "A payment event (contract 1). " + _EXTRA,
    "AccountInput": "An e-payment account opened or closed (contract 1). " + _EXTRA,
}
# Descriptions of event fields for senders; their types and rules come from the structs.
_FIELD_NOTES = {
    "schema": "Event schema version.",
    "event_id": "Unique within the source; (source, event_id) is the dedup key, so re-sending "
    "an event is harmless.",
    "occurred_at": "Event time, RFC 3339 with offset; at most a few minutes ahead.",
    "source": "Must be the source the bearer token was issued for.",
}
_SEGMENT_NOTE = "A segment of the event's channel in the taxonomy."
# The gateway pseudonymises these itself: it takes the identifier, not a pseudonym.
_IDENTIFIERS: dict[str, dict[str, Any]] = {
    "payer": {
        "type": ["string", "integer", "null"],
        "description": "The payer's identifier (phone, ID or wallet number); the gateway "
        "replaces it with a keyed pseudonym.",
    },
    "holder": {
        "type": ["string", "integer"],
        "minLength": 1,
        "description": "The holder's identifier; the gateway replaces it with a keyed "
        "pseudonym (the same person gets the same pseudonym from every provider).",
    },
}


def openapi_document(settings: GatewaySettings, taxonomy: Taxonomy) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the gateway's API, with the live taxonomy and limits."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cashless Monitor gateway",
            "version": __version__,
            "description": "Utilities, market boards and street operators push payment and "
            "account events (event schema v1). Personal data is removed or pseudonymised at the "
            "gateway before anything reaches Kafka.",
        },
        "servers": [
            {
                "url": _server_url(settings),
                "description": "This gateway, as configured (--host, --port, TLS when given a "
                "certificate).",
            }
        ],
        "paths": _paths(settings),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `cashless gateway token add SOURCE`.",
                }
            },
            "schemas": _schemas(taxonomy),
        },
    }


def _server_url(settings: GatewaySettings) -> str:
    scheme = "https" if settings.tls_cert is not None else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{scheme}://{host}:{settings.port}"


# -- examples: what an integrator sends and gets back ---------------------------------------------

EXAMPLES: dict[str, dict[str, Any]] = {
    "payments": {
        "schema": 1,
        "event_id": "hawaco-2026-02-000001",
        "occurred_at": "2026-02-27T08:15:00+07:00",
        "source": "hawaco",
        "channel": "utility",
        "segment": "water",
        "district": "hoan-kiem",
        "method": "qr",
        "amount_vnd": 350000,
        "payer": "KH0012345",
    },
    "accounts": {
        "schema": 1,
        "event_id": "momo-2026-02-000001",
        "occurred_at": "2026-02-27T08:20:00+07:00",
        "source": "momo",
        "type": "opened",
        "holder": "0912345678",
        "district": "cau-giay",
    },
}
"""One event of each kind, as a source sends it (raw identifiers: the gateway pseudonymises
them); the tests validate each against its schema and push it to a real gateway."""


def _accepted_example() -> dict[str, Any]:
    return msgspec.to_builtins(Accepted(accepted=1, records=1))  # type: ignore[no-any-return]


# What the gateway answers for the second item of `[EXAMPLES[kind], bad]`, where bad is the
# example with its method (or type) "cheque": checked against a real answer by the tests.
REJECTED_DETAIL = {
    "payments": "Invalid enum value 'cheque' - at `$.method`",
    "accounts": "Invalid enum value 'cheque' - at `$.type`",
}


def _rejected_example(kind: str) -> dict[str, Any]:
    field = "method" if kind == "payments" else "type"
    body = ErrorBody(
        error="invalid_items",
        message="1 of 2 items are invalid; nothing of this request was sent: fix them and send "
        "the whole request again",
        errors=[ItemError(index=1, reason=f"unknown_{field}", detail=REJECTED_DETAIL[kind])],
    )
    return msgspec.to_builtins(body)  # type: ignore[no-any-return]


# -- schemas ---------------------------------------------------------------------------------------


def _schemas(taxonomy: Taxonomy) -> dict[str, Any]:
    _, derived = msgspec.json.schema_components(_STRUCTS.values(), ref_template=_REF)
    by_struct = {struct.__name__: name for name, struct in _STRUCTS.items()}
    schemas = {by_struct[name]: _ecma_patterns(schema) for name, schema in derived.items()}
    for name, schema in schemas.items():
        schema["title"] = name
    segments = sorted({segment for _, segment in taxonomy.segments})
    for name in ("PaymentInput", "AccountInput"):
        schema = schemas[name]
        schema["description"] = _DESCRIPTIONS[name]
        properties = schema["properties"]
        for field, note in _FIELD_NOTES.items():
            properties[field]["description"] = note
        for field, identifier in _IDENTIFIERS.items():
            if field in properties:
                properties[field] = copy.deepcopy(identifier)
        properties["district"]["enum"] = sorted(taxonomy.districts)
        if "segment" in properties:
            properties["segment"]["enum"] = segments
            properties["segment"]["description"] = _SEGMENT_NOTE
    return schemas


def _ecma_patterns(schema: Any) -> Any:
    """The schema with Python's end-of-string `\\Z` written as JSON Schema's `$`.

    The structs' patterns are Python regular expressions; JSON Schema's are ECMA-262, which
    has no `\\Z` (and where `$` without the multiline flag already means the end of the input).
    """
    if isinstance(schema, dict):
        out = {k: _ecma_patterns(v) for k, v in schema.items()}
        pattern = out.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("\\Z"):
            out["pattern"] = pattern[:-2] + "$"
        return out
    if isinstance(schema, list):
        return [_ecma_patterns(v) for v in schema]
    return schema


# -- paths -----------------------------------------------------------------------------------------


def _ref(schema: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=schema)}


def _error(
    description: str,
    headers: dict[str, Any] | None = None,
    *,
    example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": _ref("Error")}
    if example is not None:
        content["example"] = example
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": content},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}
_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The bearer challenge.", "schema": {"type": "string"}}
}


def _push(settings: GatewaySettings, kind: str, schema: str, topic: str) -> dict[str, Any]:
    ref = _ref(schema)
    rate_limit = (
        f"The token sent more than {settings.rate_limit_per_second:g} requests/s (bursts of "
        f"{settings.rate_limit_burst}); nothing was read or sent: retry after Retry-After seconds."
        if settings.rate_limit_per_second > 0
        else "Not answered: this gateway has no rate limit."
    )
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
                        "examples": {
                            "batch": {
                                "summary": "A batch of one event (up to max_batch)",
                                "value": [EXAMPLES[kind]],
                            }
                        },
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
                        },
                    }
                },
            },
            "responses": {
                "202": {
                    "description": "Every event is in Kafka.",
                    "content": {
                        "application/json": {
                            "schema": _ref("Accepted"),
                            "example": _accepted_example(),
                        }
                    },
                },
                "400": _error("The body is not UTF-8 JSON, not an array or object, or empty."),
                "401": _error(
                    "No bearer token, or an unknown, revoked or expired one.", _AUTHENTICATE
                ),
                "408": _error(
                    f"The body did not arrive within {settings.client_timeout_seconds:g} s; "
                    "the connection is closed."
                ),
                "413": _error(
                    f"The body is over {settings.max_body_bytes} bytes or holds more than "
                    f"{settings.max_batch} items."
                ),
                "415": _error("The Content-Type is not JSON."),
                "422": _error(
                    "Some items are invalid (listed in `errors`); nothing was sent.",
                    example=_rejected_example(kind),
                ),
                "429": _error(rate_limit, _RETRY_AFTER),
                "503": _error(
                    "Kafka is unreachable or did not acknowledge; retry later.", _RETRY_AFTER
                ),
            },
        }
    }


def _probe(operation: str, summary: str, ok: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"type": "object"}}}
    return {
        "get": {
            "operationId": operation,
            "summary": summary,
            "responses": {"200": {"description": ok, "content": content}},
        }
    }


def _paths(settings: GatewaySettings) -> dict[str, Any]:
    readyz = _probe("readyz", "Readiness", "Kafka answers the producer.")
    readyz["get"]["responses"]["503"] = {
        "description": "Kafka does not answer.",
        "headers": _RETRY_AFTER,
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
        "/v1/payments": _push(settings, "payments", "PaymentInput", "payments.events"),
        "/v1/accounts": _push(settings, "accounts", "AccountInput", "payments.accounts"),
        "/healthz": _probe("healthz", "Liveness", "The process is alive."),
        "/readyz": readyz,
        "/metrics": metrics,
        "/openapi.json": _probe("openapi", "OpenAPI document", "This document."),
    }

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
   `producers.gateway.ratelimit`);
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

The package, one concept per module: `settings`, `errors`, `app` (the handlers), `validation`
(anonymise and decode a push's items), `publisher` (records and the Kafka producer), `metrics`,
`tokens`, `ratelimit`, `responses` and `openapi` (the document, derived from the schema's
structs), `runner` (serving until stopped).
"""

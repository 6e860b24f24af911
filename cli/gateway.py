"""`cashless gateway`: run the HTTP gateway (the default), or manage its bearer tokens.

    cashless gateway [OPTIONS]              serve (same as `cashless gateway serve`)
    cashless gateway token add SOURCE       issue a token for SOURCE, printed once on stdout
                                            (--expires-in 30d: refused after 30 days)
    cashless gateway token revoke SOURCE    revoke every token of SOURCE (or --id ID: one token)
    cashless gateway token list             source, id, creation and expiry of every token

Settings come from flags or `CASHLESS_GATEWAY_*` (see `producers.gateway.settings`), Kafka's
address from `CASHLESS_BOOTSTRAP_SERVERS`/`CASHLESS_TOPIC_PREFIX`, the pseudonymisation key from
`CASHLESS_PSEUDONYM_KEY` (required: the gateway anonymises at the edge).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cashless.anonymise import Anonymiser, AnonymiserSettings
from cashless.settings import KafkaSettings, TaxonomySettings, settings_from
from cashless.topics import Topics
from cli.common import friendly_errors, kafka_options
from producers.gateway.app import Gateway
from producers.gateway.errors import GatewayError
from producers.gateway.publisher import KafkaPublisher
from producers.gateway.runner import run_gateway
from producers.gateway.settings import GatewaySettings
from producers.gateway.tokens import TokenError, TokenStore, TokenVerifier, parse_duration

__all__ = ["gateway"]

logger = logging.getLogger("producers.gateway")

_F = TypeVar("_F", bound=Callable[..., Any])


def _tokens_file_option(func: _F) -> _F:
    return click.option(
        "--tokens-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="File of token hashes [env CASHLESS_GATEWAY_TOKENS_FILE; "
        ".cashless/gateway-tokens.json].",
    )(func)


def _serve_options(func: _F) -> _F:
    options = [
        click.option("--host", help="Address to listen on [env CASHLESS_GATEWAY_HOST; 127.0.0.1]."),
        click.option("--port", type=int, help="Port [env CASHLESS_GATEWAY_PORT; 8080]."),
        click.option(
            "--max-batch",
            type=int,
            help="Most items per request [CASHLESS_GATEWAY_MAX_BATCH; 500].",
        ),
        click.option(
            "--max-body-bytes",
            type=int,
            help="Largest request body [CASHLESS_GATEWAY_MAX_BODY_BYTES; 1048576].",
        ),
        click.option(
            "--rate-limit",
            type=float,
            help="Requests/s each token may send, 0 for no limit; more is answered 429 "
            "[CASHLESS_GATEWAY_RATE_LIMIT_PER_SECOND; 100].",
        ),
        click.option(
            "--rate-burst",
            type=int,
            help="Requests a token may send at once above its rate "
            "[CASHLESS_GATEWAY_RATE_LIMIT_BURST; 200].",
        ),
        _tokens_file_option,
        click.option(
            "--tls-cert",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="PEM certificate (chain) to serve HTTPS with; needs --tls-key "
            "[CASHLESS_GATEWAY_TLS_CERT].",
        ),
        click.option(
            "--tls-key",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="PEM private key of --tls-cert [CASHLESS_GATEWAY_TLS_KEY].",
        ),
        kafka_options,
        click.option(
            "--send-timeout",
            type=float,
            help="Seconds to wait for Kafka's acknowledgement before answering 503 "
            "[CASHLESS_GATEWAY_SEND_TIMEOUT_SECONDS; 10].",
        ),
        click.option(
            "--client-timeout",
            type=float,
            help="Seconds a client may take to send a whole request (head and body), and to "
            "keep an idle connection open [CASHLESS_GATEWAY_CLIENT_TIMEOUT_SECONDS; 30].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group("gateway", invoke_without_command=True)
@_serve_options
@click.pass_context
@friendly_errors
def gateway(ctx: click.Context, /, **flags: Any) -> None:
    """Run the HTTP gateway utilities push events to (the default), or manage its tokens.

    POST /v1/payments and /v1/accounts take a JSON array of events with a bearer token of the
    events' source; every event is anonymised and validated, and the answer is 202 only once
    Kafka has them all. The API is described at /openapi.json.
    """
    if ctx.invoked_subcommand is None:
        _serve(**flags)


@gateway.command("serve")
@_serve_options
@friendly_errors
def serve(**flags: Any) -> None:
    """Run the HTTP gateway until Ctrl-C or SIGTERM (what `cashless gateway` does)."""
    _serve(**flags)


def _serve(
    *,
    host: str | None,
    port: int | None,
    max_batch: int | None,
    max_body_bytes: int | None,
    rate_limit: float | None,
    rate_burst: int | None,
    tokens_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    send_timeout: float | None,
    client_timeout: float | None,
) -> None:
    settings = settings_from(
        GatewaySettings,
        host=host,
        port=port,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        rate_limit_per_second=rate_limit,
        rate_limit_burst=rate_burst,
        tokens_file=tokens_file,
        tls_cert=tls_cert,
        tls_key=tls_key,
        send_timeout_seconds=send_timeout,
        client_timeout_seconds=client_timeout,
    )
    kafka = settings_from(
        KafkaSettings, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix
    )
    anonymiser = Anonymiser.from_settings(settings_from(AnonymiserSettings))
    taxonomy = settings_from(TaxonomySettings).load()
    entries = TokenStore(settings.tokens_file).entries()
    if not entries:
        raise GatewayError(
            f"no gateway tokens in {settings.tokens_file}: issue one per source with "
            "`cashless gateway token add SOURCE` before starting the gateway"
        )
    verifier = TokenVerifier(settings.tokens_file)
    topics = Topics(kafka.topic_prefix)
    gateway_app = Gateway(
        settings,
        taxonomy=taxonomy,
        anonymiser=anonymiser,
        verifier=verifier,
        publisher=KafkaPublisher(kafka, settings, topics),
        topics=topics,
    )
    # The producer retries a lost broker every 100 ms and logs each attempt; the gateway logs
    # the outage and the recovery once instead (and /readyz and a metric show it).
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    def started(url: str) -> None:
        logger.info(
            "gateway listening on %s: %d tokens for %d sources, Kafka at %s, topics %s*",
            url,
            len(verifier),
            len(verifier.sources),
            kafka.bootstrap_servers,
            topics.prefix or "payments.",
        )

    asyncio.run(run_gateway(gateway_app, started=started))
    logger.info("gateway stopped")


# -- tokens ----------------------------------------------------------------------------------------


def _store(tokens_file: Path | None) -> TokenStore:
    return TokenStore(settings_from(GatewaySettings, tokens_file=tokens_file).tokens_file)


@gateway.group("token")
def token() -> None:
    """Issue, revoke and list the sources' bearer tokens (only their hashes are stored)."""


@token.command("add")
@click.argument("source")
@click.option(
    "--expires-in",
    metavar="DURATION",
    help="Refuse the token after this long: a whole number and s, m, h, d or w (e.g. 30d). "
    "Without it the token is valid until revoked.",
)
@_tokens_file_option
@friendly_errors
def token_add(source: str, expires_in: str | None, tokens_file: Path | None) -> None:
    """Issue a new token for SOURCE and print it once; only its hash is kept."""
    store = _store(tokens_file)
    lifetime = None if expires_in is None else parse_duration(expires_in)
    entry, secret = store.add(source, expires_in=lifetime)
    click.echo(secret)
    until = f", valid until {entry.expires}" if entry.expires else ""
    click.echo(
        f"token {entry.id} for source {entry.source} added to {store.path}{until}; it is shown "
        "only this once: hand it to the source now (send it as `Authorization: Bearer <token>`)",
        err=True,
    )


@token.command("revoke")
@click.argument("source", required=False)
@click.option("--id", "token_id", help="Revoke only the token with this id (see `token list`).")
@_tokens_file_option
@friendly_errors
def token_revoke(source: str | None, token_id: str | None, tokens_file: Path | None) -> None:
    """Revoke every token of SOURCE, or one token by --id; a running gateway stops accepting it
    at its next request."""
    store = _store(tokens_file)
    removed = store.revoke(source=source, token_id=token_id)
    if not removed:
        what = f"source {source!r}" if source is not None else f"id {token_id!r}"
        raise TokenError(f"no token of {what} in {store.path}")
    ids = ", ".join(entry.id for entry in removed)
    click.echo(f"revoked {len(removed)} token(s): {ids}")


@token.command("list")
@_tokens_file_option
@friendly_errors
def token_list(tokens_file: Path | None) -> None:
    """List the tokens: source, id, creation and expiry time (never the token)."""
    store = _store(tokens_file)
    entries = store.entries()
    if not entries:
        click.echo(f"no tokens in {store.path}", err=True)
        return
    now = time.time()
    click.echo(f"{'SOURCE':<32} {'ID':<8}  {'CREATED':<25}  EXPIRES")
    for entry in sorted(entries, key=lambda e: (e.source, e.created)):
        expires = entry.expires or "never"
        if entry.expired(now):
            expires += " (expired)"
        click.echo(f"{entry.source:<32} {entry.id:<8}  {entry.created:<25}  {expires}")

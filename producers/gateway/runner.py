"""Serving the gateway: bind its address (TLS or not), run until asked to stop, shut down."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from producers.gateway.app import Gateway
from producers.gateway.errors import GatewayError

__all__ = ["run_gateway"]


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

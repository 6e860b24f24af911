"""The Faust app's broker credentials, from the shared Kafka security settings."""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from cashless.settings import KafkaSettings

__all__ = ["faust_credentials"]


def faust_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """Faust's `broker_credentials` for `kafka`: SASL (over TLS for SASL_SSL), TLS, or None."""
    context = kafka.ssl_context()
    if kafka.uses_sasl:
        return faust.SASLCredentials(
            username=kafka.kafka_sasl_username,
            password=kafka.sasl_password(),
            ssl_context=context,
            mechanism=kafka.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None

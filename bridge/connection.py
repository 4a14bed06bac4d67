"""Connecting kafka-python clients, and saying why a connection failed.

kafka-python retries a failed connection until its bootstrap timeout and then
raises a bare "Unable to bootstrap"; the cause (a wrong password, an untrusted
certificate) is only logged, once per attempt. :func:`diagnosed` keeps those
log records out of the output and turns the timeout into one
:class:`BrokerUnavailable` that names the cause. Never a secret: the message
is built from the settings' names and files and from kafka-python's error
texts, which hold neither passwords nor keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from monitor.kafka_settings import KafkaSettings


class BrokerUnavailable(ConnectionError):
    """No Kafka broker could be used at the configured bootstrap servers; says why."""


class _Causes(logging.Handler):
    """Collects the connection errors kafka-python logs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 100:
            self.messages.append(record.getMessage()[:400])


_VERIFY = re.compile(r"certificate verify failed: ([^(]+)")
_CLOSED_AFTER_VERSIONS = re.compile(r"broker_version=\(\d[^\n]*socket disconnected")
_CLIENT_CERT_REFUSED = (
    "ALERT_BAD_CERTIFICATE",
    "ALERT_CERTIFICATE_UNKNOWN",
    "CERTIFICATE_REQUIRED",
    "ALERT_UNKNOWN_CA",
    "ALERT_HANDSHAKE_FAILURE",
)


def explain(settings: KafkaSettings, causes: list[str], timeout_s: float) -> str:
    """One line naming why no broker could be used, from kafka-python's logged errors."""
    where = f"Kafka at {settings.bootstrap} (security_protocol={settings.security_protocol})"
    text = "\n".join(causes)
    failed = (
        f"{where}: authentication failed for user {settings.sasl_username!r} with {settings.sasl}"
    )
    if "SaslAuthenticationFailed" in text:
        return f"{failed}: wrong user name or password"
    if settings.sasl and _CLOSED_AFTER_VERSIONS.search(text):
        # TLS and version negotiation passed, then the broker hung up: the SASL step.
        # (kafka-python misses the broker's error reply now and then, and sees only this.)
        return (
            f"{failed}: the broker closed the connection during authentication "
            f"(wrong user name or password, or {settings.sasl} not enabled for this listener)"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        found = _VERIFY.search(text)
        why = found.group(1).strip() if found else "certificate verify failed"
        cafile = settings.ssl_cafile or "the system's CA certificates"
        return f"{where}: the broker's certificate is not trusted by {cafile}: {why}"
    if any(alert in text for alert in _CLIENT_CERT_REFUSED):
        if settings.ssl_certfile is None:
            return (
                f"{where}: the TLS handshake failed; the broker may require a client "
                "certificate (ssl_certfile, ssl_keyfile), and none is configured"
            )
        return (
            f"{where}: the broker refused the client certificate {settings.ssl_certfile} "
            "(not signed by a CA it trusts?)"
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return f"{where}: the port does not speak TLS; is security_protocol right?"
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return f"no Kafka broker reachable at {settings.bootstrap}: connection refused"
    if "disconnected" in text and settings.security_protocol == "PLAINTEXT":
        return (
            f"{where}: the broker closed every connection; does this listener expect "
            "TLS or SASL (security_protocol)?"
        )
    last = f" (last error: {causes[-1]})" if causes else ""
    return f"no Kafka broker reachable at {settings.bootstrap} within {timeout_s:g} s{last}"


@contextmanager
def diagnosed(settings: KafkaSettings, timeout_s: float) -> Iterator[None]:
    """Around a kafka-python client's construction: its bootstrap failure becomes a
    :class:`BrokerUnavailable` naming the cause, and its per-attempt error logs are
    held back (they would repeat the cause once a second)."""
    logger = logging.getLogger("kafka")
    causes = _Causes()
    propagate = logger.propagate
    logger.addHandler(causes)
    logger.propagate = False
    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError) as exc:
        raise BrokerUnavailable(explain(settings, causes.messages, timeout_s)) from exc
    finally:
        logger.removeHandler(causes)
        logger.propagate = propagate


def admin_client(settings: KafkaSettings, connect_timeout_s: float = 10.0) -> Any:
    """A connected kafka-python admin client; :class:`BrokerUnavailable` says why not."""
    from kafka.admin import KafkaAdminClient

    with diagnosed(settings, connect_timeout_s):
        return KafkaAdminClient(
            client_id="vitals-admin",
            bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            **settings.kafka_python_kwargs(),
        )


def check_broker(settings: KafkaSettings, connect_timeout_s: float = 10.0) -> None:
    """Connect (and authenticate) once; raise :class:`BrokerUnavailable` naming the cause."""
    admin_client(settings, connect_timeout_s).close()

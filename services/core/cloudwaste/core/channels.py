"""Channels from a CloudWaste process (a service, the CLI of a CronJob) to a CloudWaste service.

`channel(address, options)` follows the caller's environment: TLS with the process's own
certificate when CLOUDWASTE_TLS_* is set (mutual TLS between the services), plaintext otherwise;
and the bearer token of CLOUDWASTE_AUTH_TOKEN_FILE (a projected ServiceAccount token, read again
when the kubelet rotates it) on every call.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping, Sequence

import grpc
from cloudwaste.core.auth import TokenFile
from cloudwaste.core.settings import TlsSettings, env_str


class _Call(
    collections.namedtuple(
        "_Call", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: TokenFile) -> None:
        self._token = token

    def _details(self, details):
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self._token.token()}")]
        return _Call(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


def channel(
    address: str,
    options: Sequence[tuple[str, object]] = (),
    *,
    tls: TlsSettings | None = None,
    token_file: str = "",
) -> grpc.Channel:
    """A channel to another CloudWaste service: TLS with this process's certificate when `tls`
    has one (mutual TLS), or verifying the server against `tls.ca_file` alone; plaintext without
    `tls`. With `token_file`, its bearer token on every call."""
    if tls is not None and (tls.enabled or tls.ca_file):
        cert, key, ca = tls.read()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
        ch = grpc.secure_channel(address, credentials, options=list(options))
    else:
        ch = grpc.insecure_channel(address, options=list(options))
    if token_file:
        ch = grpc.intercept_channel(ch, BearerToken(TokenFile(token_file)))
    return ch


def channel_from_env(
    address: str, options: Sequence[tuple[str, object]] = (), env: Mapping[str, str] | None = None
) -> grpc.Channel:
    """`channel` as CLOUDWASTE_TLS_* and CLOUDWASTE_AUTH_TOKEN_FILE say (the CLI of a CronJob)."""
    env = os.environ if env is None else env
    return channel(
        address, options, tls=TlsSettings.from_env(env), token_file=env_str(env, "AUTH_TOKEN_FILE", "")
    )

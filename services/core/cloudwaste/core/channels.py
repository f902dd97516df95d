"""Channels from a CloudWaste process (a service, the CLI of a CronJob) to a CloudWaste service.

`channel(address, options)` follows the caller's environment: TLS with the process's own
certificate when CLOUDWASTE_TLS_* is set (mutual TLS between the services), plaintext otherwise;
and the bearer token of CLOUDWASTE_AUTH_TOKEN_FILE (a projected ServiceAccount token, read again
when the kubelet rotates it) on every call.

A TLS channel follows its certificate files as the servers do (core.tls): gRPC's Python client
credentials are fixed when a channel is made, so when cert-manager renews the files, the next call
goes through a new channel made with them (the old one is closed a while later, once the calls
it carries are done). Without that, a long-running service would keep its first certificate until
it expired and every call failed.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence

import grpc
from cloudwaste.core.auth import TokenFile
from cloudwaste.core.settings import TlsSettings, env_str

log = logging.getLogger(__name__)

# How often a TLS channel looks at its certificate files (three stat calls), and how long a
# replaced channel stays open for the calls it still carries.
CHECK_FILES_SECONDS = 5.0
RETIRE_AFTER_SECONDS = 600.0


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
        ch = FollowingChannel(address, list(options), tls)
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


def _secure(address: str, options: list, files: tuple[bytes | None, bytes | None, bytes | None]):
    cert, key, ca = files
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(address, credentials, options=options)


class FollowingChannel(grpc.Channel):
    """A TLS channel whose certificate, key and CA follow their files: checked at most every
    CHECK_FILES_SECONDS; a changed set that holds together (the key is the certificate's) makes
    a new channel for the next calls. A set caught half-written, or unreadable, is not used: the
    current channel stays, said once in the log. Raises SettingsError at creation when the files
    cannot be read (the process does not start).

    The current channel and its generation change together (one tuple), so a call never pairs a
    channel with another's generation."""

    def __init__(self, address: str, options: list, tls: TlsSettings) -> None:
        from cloudwaste.core.tls import file_stamp

        self._address, self._options, self._tls, self._stamp_of = address, options, tls, file_stamp
        self._lock = threading.Lock()
        self._stamp = file_stamp(tls)
        self._now: tuple[grpc.Channel, int] = (_secure(address, options, tls.read()), 0)
        self._checked = time.monotonic()
        self._complained: str | None = None
        self._subscribed: list[tuple] = []
        self._retiring: list[threading.Timer] = []
        self._closed = False

    @property
    def generation(self) -> int:
        return self._now[1]

    def current(self) -> tuple[grpc.Channel, int]:
        """(the channel for the next call, its generation), made anew if the files changed."""
        now = time.monotonic()
        if now - self._checked < CHECK_FILES_SECONDS or self._closed:
            return self._now
        with self._lock:
            self._checked = now
            stamp = self._stamp_of(self._tls)
            if stamp != self._stamp and not self._closed:
                self._renew(stamp)
            return self._now

    def _renew(self, stamp: tuple) -> None:
        from cloudwaste.core.tls import consistent

        try:
            files = self._tls.read()
            if self._tls.enabled:
                consistent(files[0], files[1])
            channel = _secure(self._address, self._options, files)
        except Exception as exc:  # unreadable, half-written, a key gRPC or cryptography refuses
            if self._complained != str(exc):
                log.warning("TLS client certificate files changed but cannot be used yet: %s", exc)
                self._complained = str(exc)
            return  # the current channel stays; the next check looks again
        old, generation = self._now
        for callback, try_to_connect in self._subscribed:
            old.unsubscribe(callback)
            channel.subscribe(callback, try_to_connect)
        self._now, self._stamp, self._complained = (channel, generation + 1), stamp, None
        log.info("TLS client certificate reloaded", extra={"cert_file": self._tls.cert_file})
        timer = threading.Timer(RETIRE_AFTER_SECONDS, old.close)
        timer.daemon = True
        timer.start()
        self._retiring.append(timer)

    def _callable(self, kind: str, method: str, *args, **kwargs):
        return _Following(self, kind, method, args, kwargs)

    def unary_unary(self, method, *args, **kwargs):
        return self._callable("unary_unary", method, *args, **kwargs)

    def unary_stream(self, method, *args, **kwargs):
        return self._callable("unary_stream", method, *args, **kwargs)

    def stream_unary(self, method, *args, **kwargs):
        return self._callable("stream_unary", method, *args, **kwargs)

    def stream_stream(self, method, *args, **kwargs):
        return self._callable("stream_stream", method, *args, **kwargs)

    def subscribe(self, callback, try_to_connect=False):
        with self._lock:
            self._subscribed.append((callback, try_to_connect))
            self._now[0].subscribe(callback, try_to_connect)

    def unsubscribe(self, callback):
        with self._lock:
            self._subscribed = [(c, t) for c, t in self._subscribed if c is not callback]
            self._now[0].unsubscribe(callback)

    def close(self):
        with self._lock:
            self._closed = True
            for timer in self._retiring:  # the replaced channels too, now
                timer.cancel()
                timer.function()
            self._retiring.clear()
            self._now[0].close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
        return False


class _Following:
    """A multi-callable of a FollowingChannel: each call goes through its current channel."""

    def __init__(self, owner: FollowingChannel, kind: str, method: str, args: tuple, kwargs: dict) -> None:
        self._owner, self._kind, self._method, self._args, self._kwargs = owner, kind, method, args, kwargs
        self._made: tuple[int, object] = (-1, None)  # (generation, its multi-callable): one tuple

    def _current(self):
        channel, generation = self._owner.current()
        made = self._made
        if made[0] != generation:
            made = (generation, getattr(channel, self._kind)(self._method, *self._args, **self._kwargs))
            self._made = made
        return made[1]

    def __call__(self, *args, **kwargs):
        return self._current()(*args, **kwargs)

    def with_call(self, *args, **kwargs):
        return self._current().with_call(*args, **kwargs)

    def future(self, *args, **kwargs):
        return self._current().future(*args, **kwargs)

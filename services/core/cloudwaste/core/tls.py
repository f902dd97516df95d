"""The server's TLS certificate, read again when its files change: cert-manager (or any issuer that
writes a Secret) renews certificates in place, days before they expire, and the kubelet swaps the
mounted files. gRPC asks `ServerCertificates.fetch` at each new connection's handshake; a
changed, consistent set of files is served from then on, without a restart. Connections already
open keep the certificate they were made with (servers close them after their maximum age).

A set caught half-written (the new certificate with the old key) or unreadable is not served:
the previous one stays, the problem is logged once, and the next handshake looks again."""

from __future__ import annotations

import logging
import os
import threading

import grpc
from cloudwaste.core.settings import SettingsError, TlsSettings
from cryptography import x509
from cryptography.hazmat.primitives import serialization

log = logging.getLogger(__name__)


def consistent(cert: bytes, key: bytes) -> None:
    """Raises ValueError unless `key` is the private key of the first certificate of `cert`."""
    leaf = x509.load_pem_x509_certificate(cert)
    private = serialization.load_pem_private_key(key, password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*der) != private.public_key().public_bytes(*der):
        raise ValueError("the key is not the certificate's")


def file_stamp(tls: TlsSettings) -> tuple:
    """What tells the certificate, key and CA files' contents apart: inode, mtime and size each
    (the kubelet swaps a Secret's files by renaming a folder: new inodes)."""
    stamps = []
    for path in (tls.cert_file, tls.key_file, tls.ca_file):
        try:
            st = os.stat(path) if path else None
            stamps.append((st.st_ino, st.st_mtime_ns, st.st_size) if st else None)
        except OSError:
            stamps.append("missing")
    return tuple(stamps)


class ServerCertificates:
    """The certificate, key and CA of `tls` as gRPC server credentials that follow the files."""

    def __init__(self, tls: TlsSettings) -> None:
        self.tls = tls
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self._complained: str | None = None
        cert, key, ca = tls.read()  # SettingsError naming the variable: the service does not start
        try:
            consistent(cert, key)
        except ValueError as exc:
            raise SettingsError(f"CLOUDWASTE_TLS_KEY_FILE: {exc}") from None
        self._initial = grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def _stamp(self) -> tuple:
        return file_stamp(self.tls)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._initial, self.fetch, require_client_authentication=bool(self.tls.ca_file)
        )

    def fetch(self):
        """gRPC's certificate_configuration_fetcher: None to keep serving the current files' set,
        or the new set once the files changed and hold together."""
        stamp = self._stamp()
        with self._lock:
            if stamp == self._seen:
                return None
            try:
                cert, key, ca = self.tls.read()
                consistent(cert, key)
            except (SettingsError, ValueError) as exc:
                if self._complained != str(exc):
                    log.warning("TLS certificate files changed but cannot be served yet: %s", exc)
                    self._complained = str(exc)
                return None  # the previous certificate stays; the next handshake looks again
            self._seen, self._complained = stamp, None
            log.info("TLS certificate reloaded", extra={"cert_file": self.tls.cert_file})
            return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

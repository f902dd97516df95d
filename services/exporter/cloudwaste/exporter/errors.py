"""The exporter's own domain errors. The one interceptor in cloudwaste.core.server maps every
CloudWasteError to its status code; nothing here knows gRPC."""

from __future__ import annotations

from cloudwaste.core.errors import CloudWasteError


class ExportFailed(CloudWasteError):
    """An export could not be written (the message says why; safe for the wire)."""

    code = "INTERNAL"

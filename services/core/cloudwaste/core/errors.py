"""Domain errors. The core raises these; one interceptor maps them to gRPC status codes.

Nothing below a servicer knows about gRPC: a store or a rule raises `InvalidArgument("page_size",
"must be between 1 and 1000")` and the client sees INVALID_ARGUMENT with that text.
"""

from __future__ import annotations


class CloudWasteError(Exception):
    """Base of every error a client may see. Its message is safe to put on the wire."""

    code = "INTERNAL"


class InvalidArgument(CloudWasteError):
    """Bad input. Always names the offending field."""

    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class NotFound(CloudWasteError):
    code = "NOT_FOUND"


class AlreadyExists(CloudWasteError):
    code = "ALREADY_EXISTS"


class Aborted(CloudWasteError):
    """A concurrency conflict, e.g. a stale etag (AIP-154): read again, then retry."""

    code = "ABORTED"


class FailedPrecondition(CloudWasteError):
    code = "FAILED_PRECONDITION"


class Unavailable(CloudWasteError):
    """A dependency (database, provider API, another service) is down; retrying may help."""

    code = "UNAVAILABLE"


class PermissionDenied(CloudWasteError):
    code = "PERMISSION_DENIED"

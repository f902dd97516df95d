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


class DeadlineExceeded(CloudWasteError):
    """The caller's deadline passed before the work was done; the work was stopped."""

    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(CloudWasteError):
    """A limit of the server (e.g. open streams) is reached; retrying later may help."""

    code = "RESOURCE_EXHAUSTED"


# google.rpc.Code numbers (the wire values of gRPC status codes), by name.
CODES = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}


def failure(exc: BaseException, otherwise: str) -> tuple[int, str]:
    """What a run that failed with `exc` records: (google.rpc.Code, message safe to show). An
    unexpected exception is INTERNAL with `otherwise` (its details belong in the log)."""
    if isinstance(exc, CloudWasteError):
        return CODES.get(exc.code, CODES["INTERNAL"]), str(exc)[:1000]
    return CODES["INTERNAL"], otherwise


# A run whose worker stopped (killed, evicted): retry it, as for ABORTED.
WORKER_LOST = CODES["ABORTED"]

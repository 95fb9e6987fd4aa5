"""The one error vocabulary of xmodal. The domain knows nothing of gRPC.

Everything below the API layer raises these (never grpc types); ``api/errors.py`` holds the one table
that maps them to gRPC status codes, at the single boundary that turns them into statuses. Messages are written for the caller: what was wrong, which
item, and what to do.
"""
from __future__ import annotations



class XmodalError(Exception):
    """Base class. Its gRPC status is looked up in ``api.errors.STATUS_BY_ERROR``, never set per raise."""

    def __init__(self, message: str, *, item: str | None = None):
        self.item = item
        super().__init__(f"{item}: {message}" if item else message)

    def with_item(self, item: str) -> "XmodalError":
        """Same error, prefixed with which item of a request it concerns (e.g. "items[3] (id 'a')")."""
        return type(self)(str(self), item=item)


class InvalidInput(XmodalError):
    """Malformed media, text, id or parameter."""


class NotFound(XmodalError):
    """Unknown collection (or other named resource)."""


class AlreadyExists(XmodalError):
    """Duplicate collection name or item id."""


class FailedPrecondition(XmodalError):
    """The request is well formed but the system is not in a state to run it
    (e.g. a collection built with another checkpoint)."""


class Unavailable(XmodalError):
    """Not ready yet (models loading) or shutting down; safe to retry."""


class ResourceExhausted(XmodalError):
    """Overload: a bounded queue is full."""


class DeadlineExceeded(XmodalError):
    """The caller's deadline passed before the work could start (e.g. while queued for a batch)."""


class Unauthenticated(XmodalError):
    """No credentials, or credentials the server does not know (a missing or unknown bearer token)."""


class PermissionDenied(XmodalError):
    """Known caller, insufficient scope (a read-only token calling a write RPC)."""


class DataLoss(XmodalError):
    """Stored data failed a check (a damaged database or log): refused rather than served incomplete."""


class Internal(XmodalError):
    """A bug or an unexpected failure of a dependency."""

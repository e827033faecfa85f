"""Domain errors that every layer raises and the HTTP layer renders in upstream's shapes."""

from __future__ import annotations


class OpencodeError(Exception):
    """Base class: an error whose message is safe to show to the client."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(OpencodeError):
    """The thing named does not exist (or no longer does)."""

    status = 404

    @classmethod
    def session(cls, session_id: str) -> NotFoundError:
        """Upstream's words for a session that is not there; clients match on them."""
        return cls(f"Session not found: {session_id}")


class BadRequestError(OpencodeError):
    """The request is well-formed JSON but asks for something impossible."""

    status = 400

    def __init__(self, message: str, field: str | None = None, kind: str = "Body") -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


class SessionBusyError(OpencodeError):
    """The session is running a prompt and cannot take this change now."""

    status = 409

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} is busy")
        self.session_id = session_id


class PayloadTooLargeError(OpencodeError):
    """The request body is over the configured cap."""

    status = 413


class StorageFullError(OpencodeError):
    """The disk under the store is full: nothing was written. Deleting frees space."""

    status = 507


class StorageUnavailableError(OpencodeError):
    """The store cannot take the write now (locked elsewhere, not answering); try again."""

    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProjectNotFoundError(NotFoundError):
    """No project with this id has been seen by this server."""

    def __init__(self, project_id: str) -> None:
        super().__init__(f"Project not found: {project_id}")
        self.project_id = project_id

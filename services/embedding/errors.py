"""Errors of the embedding service; each subclasses the common error that fixes its code.

An image over a size limit raises the library's ``anneal.errors.ImageTooLargeError``
(RESOURCE_EXHAUSTED), one class wherever the limit is checked.
"""

from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)


class UnknownModelError(NotFoundError):
    """No model version of this name is loaded: load it with LoadModel first."""


class ModelConflictError(AlreadyExistsError):
    """The version is loaded from another checkpoint: load the new one under a new version name."""


class DefaultModelError(FailedPreconditionError):
    """The default version cannot be unloaded: make another version the default first."""


class NoArchiveError(FailedPreconditionError):
    """Archive image ids were sent but the service was started without an archive folder."""


class WorkerFailedError(UnavailableError):
    """A Ray worker died or could not be reached; Ray restarts it, so retrying may work."""


class WorkerOutOfMemoryError(ResourceExhaustedError):
    """A worker ran out of memory on a batch: retrying the same batch would fail again."""

"""Errors of the search layer, each a subclass of the common error that fixes its status code."""

from services.common.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
)


class NoServingIndexError(FailedPreconditionError):
    """No index version has been swapped in yet: build one, then swap to it."""


class UnknownImageError(NotFoundError):
    """The serving index holds no image with this id."""


class UnknownVersionError(NotFoundError):
    """No built (and verified) index exists for this version."""


class VersionExistsError(AlreadyExistsError):
    """An index for this version already exists: build under a new version number."""


class StaleVersionError(FailedPreconditionError):
    """The version is not newer than the serving one, so using it would move clients backwards."""


class NotServingError(FailedPreconditionError):
    """The version is built but does not serve: only the serving version takes added rows."""


class IndexNotReadyError(RuntimeError):
    """A freshly loaded collection does not answer as it should yet; retrying may help."""


class IndexBuildError(UnavailableError):
    """Building an index version failed; the previously serving version is untouched."""


class IndexAddError(UnavailableError):
    """Adding rows to a version failed; the rows inserted were deleted again (where Milvus let)."""


class BackendUnavailableError(UnavailableError):
    """Milvus did not answer a query; the caller may retry."""


class RecallBelowFloorError(FailedPreconditionError):
    """A built ANN index finds too few of the exact nearest neighbours; it was dropped and the
    serving version is untouched. Retrying with the same rows and parameters fails again."""

    def __init__(self, message: str, recall: float) -> None:
        super().__init__(message)
        self.recall = recall

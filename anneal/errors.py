"""Project exceptions. Each subclasses a builtin so callers (and the gRPC boundary) can map it."""


class ArchiveError(ValueError):
    """An archive folder cannot be used (missing, empty, no readable image)."""


class ImageDecodeError(ValueError):
    """Bytes or a file are not a decodable RGB image."""


class ImageTooLargeError(ImageDecodeError):
    """An image is over a size limit (pixels, bands, bit depth, bytes), refused before decoding.

    An ImageDecodeError, so callers that skip undecodable files skip it too; the services map
    it to RESOURCE_EXHAUSTED rather than INVALID_ARGUMENT.
    """


class ConfigError(ValueError):
    """An option has a value the system cannot use (unknown strategy, budget too large...)."""


class StateError(RuntimeError):
    """Saved state is missing, incomplete or does not match the requested run."""


class PartContractError(RuntimeError):
    """An injected part returned something its base class promises it never returns (a bug in
    the part, not in the caller's input: the services report it as INTERNAL)."""

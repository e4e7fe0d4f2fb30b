"""Project exceptions. Each subclasses a builtin so callers (and the gRPC boundary) can map it."""


class ArchiveError(ValueError):
    """An archive folder cannot be used (missing, empty, no readable image)."""


class ImageDecodeError(ValueError):
    """Bytes or a file are not a decodable RGB image."""


class ConfigError(ValueError):
    """An option has a value the system cannot use (unknown strategy, budget too large...)."""


class StateError(RuntimeError):
    """Saved state is missing, incomplete or does not match the requested run."""

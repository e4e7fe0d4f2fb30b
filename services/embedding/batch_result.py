"""What a worker sends back for one batch: vectors, or why it could not embed them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from anneal.errors import ImageDecodeError


@dataclass(frozen=True)
class BatchResult:
    """Embeddings of one batch, with the time spent decoding and in the model.

    ``model_missing`` means the worker does not hold the requested version (e.g. it was restarted
    by Ray); ``failed`` maps batch positions of undecodable images to their error (an
    ImageTooLargeError for one over the limits); ``expired`` means the caller's deadline passed
    before the batch was done, so the worker stopped. In these cases ``vectors`` is None.
    """

    vectors: np.ndarray | None
    decode_seconds: float = 0.0
    model_seconds: float = 0.0
    failed: Mapping[int, ImageDecodeError] = field(default_factory=dict)
    model_missing: bool = False
    expired: bool = False

    @classmethod
    def missing(cls) -> BatchResult:
        return cls(vectors=None, model_missing=True)

    @classmethod
    def past_deadline(cls) -> BatchResult:
        return cls(vectors=None, expired=True)

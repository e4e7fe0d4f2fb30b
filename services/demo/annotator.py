"""A simulated annotator: answers a round's pending pairs from the archive's class folders."""

from __future__ import annotations

import grpc

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc

BATCH = 50


def class_of(image_id: str) -> str:
    """The class of a labelled archive's image: its folder."""
    return image_id.split("/", 1)[0]


class SimulatedAnnotator:
    """Pulls pending pairs from selection and pushes answers to the label service over gRPC.

    The answers are stored under the identity of the channel's token; ``name`` only prefixes
    their idempotency keys.
    """

    def __init__(self, selection: grpc.Channel, labels: grpc.Channel, name: str = "oracle") -> None:
        self._selection = selection_pb2_grpc.SelectionServiceStub(selection)
        self._labels = labels_pb2_grpc.LabelServiceStub(labels)
        self.name = name

    def answer_round(self, round_number: int) -> int:
        """Answer every pending pair of the round, in batches; the number answered."""
        pending = self._selection.ListPendingPairs(
            selection_pb2.ListPendingPairsRequest(round=round_number), timeout=60
        ).pairs
        for start in range(0, len(pending), BATCH):
            labels = [
                labels_pb2.Label(
                    round=round_number,
                    pair_id=p.pair_id,
                    similar=class_of(p.image_a) == class_of(p.image_b),
                    idempotency_key=f"{self.name}:r{round_number}:p{p.pair_id}",
                )
                for p in pending[start : start + BATCH]
            ]
            self._labels.SubmitLabels(labels_pb2.SubmitLabelsRequest(labels=labels), timeout=60)
        return len(pending)

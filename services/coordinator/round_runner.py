"""The work of each round stage, and of indexing the archive at first start (bootstrap).

Each method does one stage and returns what it produced (the :class:`~services.coordinator.
round_work.RoundWork` interface); the state handlers (``round_states.py``) decide the order and
record the results, the state machine persists them. Nothing here changes what serves queries except
:meth:`RoundRunner.swap` (and the bootstrap's first swap), the last step of a round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from anneal.al.round_parameters import RoundParameters
from anneal.errors import ConfigError
from anneal.models.embedding_model import EmbeddingModel
from anneal.models.model_version import ModelVersion
from services.common.embedding_files import EmbeddingFiles, EmbeddingsAbsentError
from services.common.errors import FailedPreconditionError
from services.coordinator.downstream import Downstream, IndexInfo
from services.coordinator.evaluation import Evaluator
from services.coordinator.ingest_report import IngestReport
from services.coordinator.model_workspace import ModelWorkspace
from services.coordinator.round_mode import RoundMode
from services.coordinator.round_status import RoundStatus, Serving

log = logging.getLogger(__name__)


class RoundRunner:
    """Runs stages against the other services with one workspace and, per training mode name,
    how that mode trains and re-embeds (``modes``; a round uses its ``mode``'s)."""

    def __init__(
        self,
        workspace: ModelWorkspace,
        downstream: Downstream,
        modes: Mapping[str, RoundMode],
        evaluator: Evaluator | None,
        files: EmbeddingFiles | None = None,
    ) -> None:
        """``files``: where the bootstrap writes the embeddings of the version it builds, as
        EMBEDDING does a round's (None: not written; selection then exports them from search)."""
        self.workspace = workspace
        self._files = files
        self.downstream = downstream
        self._modes = dict(modes)
        self._evaluator = evaluator
        self._metadata: list[dict[str, str]] = []
        self._add_metadata(0)
        self._growing = threading.Lock()
        """Held while the workspace grows or the serving index gets its missing rows."""

    def _add_metadata(self, start: int) -> None:
        """Index metadata of workspace rows ``start`` onwards (path, and class if labelled)."""
        ids = self.workspace.ids[start:]
        classes = self.workspace.classes[start:] if self.workspace.classes else [""] * len(ids)
        self._metadata.extend(
            {"label": cls, "path": image_id} if cls else {"path": image_id}
            for image_id, cls in zip(ids, classes, strict=True)
        )

    def mode(self, name: str) -> RoundMode:
        """The parts of training mode ``name``; ConfigError when this coordinator has none."""
        try:
            return self._modes[name]
        except KeyError:
            raise ConfigError(
                f"this coordinator runs no {name!r} rounds (it runs {', '.join(self._modes)});"
                " start the round in one of those modes"
            ) from None

    def check_mode(self, mode: str) -> None:
        self.mode(mode)

    def evaluate(self, embeddings: np.ndarray) -> dict[str, float]:
        return self._evaluator.evaluate(embeddings) if self._evaluator else {}

    def _embed_all(self, mode: str, model: EmbeddingModel) -> np.ndarray:
        """Every workspace image's embedding by ``model``, with training mode ``mode``'s
        re-embedder."""
        return self.mode(mode).reembedder.embed(model, self.workspace.images())

    # -- bootstrap --------------------------------------------------------------------------

    def bootstrap(self, serving: Serving) -> Serving:
        """Make sure an index serves; on first start index the archive with the round-0 model.

        Returns the (possibly new) serving record. If the search service lost the serving
        index (e.g. its Milvus data was wiped), the serving model is indexed again.
        """
        info = self.downstream.serving_index()
        if serving.index_version > 0 and info is not None and info.version >= serving.index_version:
            if info.version == serving.index_version:
                with self._growing:
                    self._add_missing(serving, info)
            return serving
        if serving.index_version > 0:
            log.warning(
                "the search service lost index version %d; rebuilding it", serving.index_version
            )
            version = serving.index_version
            model_version = ModelVersion.parse(serving.model_version)
            mode = serving.mode
        else:
            version = info.version + 1 if info is not None else 1
            model_version = self.workspace.model_version(0)
            mode = Serving().mode  # round 0's backbone is the one the features came from
        model = self.workspace.model(model_version)
        checkpoint = str(self.workspace.checkpoint(model_version))
        self.downstream.load_model(str(model_version), checkpoint, make_default=True)
        embeddings = self._embed_all(mode, model)
        if self._files is not None:
            embeddings = self._files.write(
                version, str(model_version), self.workspace.ids, embeddings
            )
        self.downstream.build_index(
            version, str(model_version), self.workspace.ids, embeddings, self._metadata
        )
        if not self.downstream.swap_index(version):
            raise RuntimeError(f"the search service lost index version {version} just built")
        log.info("index version %d serves model %s", version, model_version)
        return Serving(version, str(model_version), checkpoint, self.evaluate(embeddings), mode)

    # -- images added to the archive -----------------------------------------------------------

    def ingest(self, serving: Serving) -> IngestReport:
        """Append the images added to the archive folder to the workspace (features of only
        those) and add every workspace image the serving index lacks to it, in place."""
        with self._growing:
            growth = self.workspace.grow()
            if growth.ids:
                self._add_metadata(growth.start)
                if self._evaluator is not None and self.workspace.classes:
                    self._evaluator = Evaluator(self.workspace.ids, self.workspace.classes)
            info = self.downstream.serving_index()
            if info is None or info.version != serving.index_version:
                raise FailedPreconditionError(
                    f"the search service serves index version {info.version if info else 'none'},"
                    f" the coordinator version {serving.index_version}; retry once they agree"
                    " (the coordinator reconciles them within seconds)"
                )
            added, now = self._add_missing(serving, info)
        return IngestReport(
            added, len(growth.unreadable), serving.index_version, serving.model_version, now.count
        )

    def _add_missing(self, serving: Serving, info: IndexInfo) -> tuple[int, IndexInfo]:
        """Embed (with the serving model and its mode's re-embedder) and add the workspace
        images the serving index lacks; how many were added and the index now.

        The ids are compared (one export of the index's ids) only when the index holds fewer
        images than the workspace: at a million images an export costs seconds, and the
        workspace only grows. The version's embedding files (what selection reads) are written
        again with the added rows.
        """
        if info.count >= len(self.workspace.ids):
            return 0, info
        held = self.downstream.indexed_ids(serving.index_version)
        rows = [row for row, image_id in enumerate(self.workspace.ids) if image_id not in held]
        if not rows:
            return 0, info
        model = self.workspace.model(ModelVersion.parse(serving.model_version))
        images = self.workspace.images(rows)
        vectors = self.mode(serving.mode).reembedder.embed(model, images)
        metadata = [self._metadata[row] for row in rows]
        now = self.downstream.add_to_index(serving.index_version, images.ids, vectors, metadata)
        log.info("index version %d: added %d archive images", serving.index_version, len(rows))
        self._extend_files(serving, images.ids, vectors)
        return len(rows), now

    def _extend_files(self, serving: Serving, ids: Sequence[str], vectors: np.ndarray) -> None:
        """The serving version's embedding files, written again with rows ``ids`` appended (if
        it has complete files; otherwise selection reads the version from search)."""
        if self._files is None:
            return
        try:
            stored = self._files.read(serving.index_version)
        except EmbeddingsAbsentError:
            return
        self._files.write(
            serving.index_version,
            serving.model_version,
            [*stored.ids, *ids],
            np.concatenate([np.asarray(stored.vectors), vectors]),
        )

    def reconcile(self, serving: Serving) -> None:
        """Reload the serving model into the embedding service if it lost it (a restart)."""
        loaded = self.downstream.loaded_models()
        if loaded is not None and serving.model_version and serving.model_version not in loaded:
            log.info("embedding service lacks %s; loading it", serving.model_version)
            self.downstream.load_model(serving.model_version, serving.checkpoint, True)

    # -- round stages -------------------------------------------------------------------------

    def select(self, status: RoundStatus, serving_version: int) -> int:
        """Open the round's pairs on the selection service; how many there are."""
        parameters = RoundParameters(status.strategy, status.budget, status.seed)
        return self.downstream.select(status.round, parameters, serving_version)

    def labelled_pairs(self, status: RoundStatus) -> int:
        return self.downstream.labelled_pairs(status.round)

    def close_labels(self, status: RoundStatus) -> None:
        self.downstream.close_labels(status.round)

    def train(self, status: RoundStatus, label_rounds: Sequence[int]) -> tuple[str, str]:
        """Train on the labels of ``label_rounds``; the model version and checkpoint path."""
        answers = self.downstream.answers(label_rounds)
        trainer = self.mode(status.mode).trainer
        path = self.workspace.train(status.round, answers, status.seed, trainer)
        return str(self.workspace.model_version(status.round)), str(path)

    def embed(self, status: RoundStatus) -> tuple[np.ndarray, dict[str, float]]:
        """Load the round's model into the embedding service; the archive's new embeddings
        and their evaluation."""
        model = self.workspace.model(ModelVersion.parse(status.model_version))
        self.downstream.load_model(status.model_version, status.checkpoint, make_default=False)
        embeddings = self._embed_all(status.mode, model)
        return embeddings, self.evaluate(embeddings)

    def archive_ids(self) -> Sequence[str]:
        return self.workspace.ids

    def index(self, status: RoundStatus, embeddings: np.ndarray) -> float:
        """Build (and have verified) the round's index version; its build seconds."""
        return self.downstream.build_index(
            status.index_version,
            status.model_version,
            self.workspace.ids,
            embeddings,
            self._metadata,
        )

    def serving_version(self) -> int:
        info = self.downstream.serving_index()
        return info.version if info is not None else 0

    def swap(self, status: RoundStatus) -> bool:
        """Serve the round's index, then make its model the embedding service's default; False
        (nothing changed) when the search service has no build of the round's version."""
        if not self.downstream.swap_index(status.index_version):
            return False
        self.downstream.load_model(status.model_version, status.checkpoint, make_default=True)
        return True

"""The shop's answers for one model version and the stock index that version embedded:
classify a batch of photos, find the items in stock like one photo. No HTTP here: the service
(api/) turns requests into bytes and these answers into JSON.

One forward pass gives both the class probabilities (through test-time augmentation when the
model has it) and the embedding (the network's penultimate layer, as the index was built), and
concurrent requests share passes through a Batcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fashion_models.serving.batcher import Batcher, Outputs
from fashion_models.serving.catalog import Match, SearchIndex
from fashion_models.serving.forward import forward_graph
from fashion_models.serving.images import ImageError
from fashion_models.serving.pyfunc import Prediction, prediction, prepare_all
from fashion_models.train.data import CLASS_NAMES


class Shop:
    def __init__(self, keras_model: Any, index: SearchIndex, max_batch: int = 64) -> None:
        self.index = index
        self._graph = forward_graph(keras_model)
        self._batcher = Batcher(self._forward, max_batch)

    def _forward(self, batch: np.ndarray) -> Outputs:
        probabilities, features = (np.asarray(o) for o in self._graph(batch))
        return probabilities, features.reshape(len(batch), -1)

    def classify(
        self, images: Sequence[bytes | str], timeout: float | None = None
    ) -> list[Prediction]:
        """One Prediction per photo (bytes, or base64 text), in order: a bad photo gets its
        error, the others answers."""
        batch, good, errors = prepare_all(list(images))
        answers: dict[int, np.ndarray] = {}
        if len(batch):
            probabilities, _ = self._batcher.submit(batch).result(timeout)
            answers = dict(zip(good, probabilities, strict=True))
        return [
            Prediction(error=errors[i]) if i in errors else prediction(answers[i])
            for i in range(len(images))
        ]

    def similar(
        self, image: bytes | str, k: int, timeout: float | None = None
    ) -> tuple[Prediction, list[Match]]:
        """The photo's class and the k items in stock of that class closest to it.
        Raises ImageError for a bad photo."""
        batch, _, errors = prepare_all([image])
        if errors:
            raise ImageError(errors[0])
        probabilities, features = self._batcher.submit(batch).result(timeout)
        answer = prediction(probabilities[0])
        predicted = CLASS_NAMES.index(str(answer.class_name))
        return answer, self.index.nearest(features[0], predicted, k)

    def close(self) -> None:
        self._batcher.close()

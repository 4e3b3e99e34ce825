"""The shop's forward pass as one TensorFlow graph: for a batch of preprocessed photos, the
class probabilities (through test-time augmentation when the model has it) and the embedding
(the network's penultimate layer on the photo as uploaded), in one call. The shop serves
through it (shop.py) and its serving costs are measured on it (costs.py), so the time a
study budgets is the time an upload waits for."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from fashion_models.serving.preprocess import SIZE
from fashion_models.train.model import answer_and_embedding


def forward_graph(keras_model: Any, batch_size: int | None = None) -> Any:
    """A tf.function: images (batch_size or any, 28, 28, 1) float32 -> [probabilities,
    embeddings]. One graph for every batch size: an eager call of the two-output model took
    13.3 ms for one photo, this 1.3 ms (AMD EPYC, 2026-12-07; bench/RESULTS.md). The network
    runs once on the photo for both outputs (and once on its mirror with TTA): a separate
    embedding pass cost a TTA model a third network pass per photo."""
    model = answer_and_embedding(keras_model)

    @tf.function(input_signature=[tf.TensorSpec((batch_size, SIZE, SIZE, 1), tf.float32)])
    def forward(batch: tf.Tensor) -> list[tf.Tensor]:
        return list(model(batch, training=False))

    return forward

"""The shop's forward pass as one TensorFlow graph: for a batch of preprocessed photos, the
class probabilities (through test-time augmentation when the model has it) and the embedding
(the network's penultimate layer on the photo as uploaded), in one call. The shop serves
through it (shop.py) and its serving costs are measured on it (costs.py), so the time a
study budgets is the time an upload waits for."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from fashion_models.serving.preprocess import SIZE
from fashion_models.train.model import classifier_of


def forward_graph(keras_model: Any, batch_size: int | None = None) -> Any:
    """A tf.function: images (batch_size or any, 28, 28, 1) float32 -> [probabilities,
    embeddings]. One graph for every batch size: an eager call of the two-output model took
    13.3 ms for one photo, this 1.3 ms (AMD EPYC, 2026-12-07; bench/RESULTS.md)."""
    network = classifier_of(keras_model)
    embedding = network.layers[-2].output
    if network is keras_model:  # no TTA: one model, two outputs, one pass
        both = keras.Model(network.inputs[0], [network.layers[-1].output, embedding])
        passes: list[Any] = [both]
    else:  # TTA wraps the network: its answer, and the network's embedding of the photo
        passes = [keras_model, keras.Model(network.inputs[0], embedding)]

    @tf.function(input_signature=[tf.TensorSpec((batch_size, SIZE, SIZE, 1), tf.float32)])
    def forward(batch: tf.Tensor) -> list[tf.Tensor]:
        outputs: list[tf.Tensor] = []
        for model in passes:
            result = model(batch, training=False)
            outputs.extend(result if isinstance(result, list | tuple) else [result])
        return outputs

    return forward

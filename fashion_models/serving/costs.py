"""What a model costs the shop to serve, measured on the shop's own forward graph (forward.py:
test-time augmentation and the embedding included) before anything is trained: the time per
photo on one CPU thread, the weights, the size on disk, the floating-point operations.

They depend on the architecture alone (untrained weights cost what trained ones do), so a
study measures them first and need not train a model over its budget. The graph is frozen
and run in a session of its own with one intra-op and one inter-op thread, so the time does
not depend on how many threads the measuring process was given.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from fashion_models.serving.forward import forward_graph
from fashion_models.serving.preprocess import SIZE

WARMUP_CALLS = 3  # the first calls of a session allocate and pick kernels
TIMED_CALLS = (10, 50)  # at least, at most
TIMED_SECONDS = 0.25  # timing stops at the most calls, or after this long past the least


@dataclass(frozen=True)
class ServingCosts:
    serve_ms: float  # median milliseconds for one photo, one thread, after a warm-up
    serve_ms_p95: float  # 95th percentile of the same calls
    params: int  # weights of the served model
    model_mb: float  # the served Keras model's file (.keras), megabytes (10^6 bytes)
    mflops: float  # floating-point operations for one photo, millions (a multiply-add is 2)

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


def measure(keras_model: Any) -> ServingCosts:
    """The serving costs of `keras_model` (the model as logged: TTA wrapper included)."""
    graph, inputs, outputs = _frozen_forward(keras_model)
    serve_ms, serve_ms_p95 = _time_one_photo(graph, inputs, outputs)
    return ServingCosts(
        serve_ms=round(serve_ms, 4),
        serve_ms_p95=round(serve_ms_p95, 4),
        params=int(keras_model.count_params()),
        model_mb=round(_saved_bytes(keras_model) / 1e6, 4),
        mflops=round(_float_ops(graph) / 1e6, 4),
    )


def architecture_digest(keras_model: Any) -> str:
    """The network the costs depend on, as 16 hex digits of its configuration (layers, sizes,
    dtypes, test-time views; no weights, nothing of how it trains). Two configurations with
    the same digest build the same servable network, so a study measures it once: the same
    network measured twice differs by the timing's noise (0.25 and 0.37 ms for one network
    in the shop-budget study, measured beside the other worker's training), and that noise
    alone would put the slower copy on the Pareto front."""
    text = json.dumps(keras_model.get_config(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def constraints(costs: Mapping[str, float], budget: Mapping[str, float]) -> dict[str, float]:
    """Each budgeted cost relative to its maximum, as Optuna's constraints take it: its
    overshoot (0.5: 50% over), feasible when <= 0."""
    return {name: costs[name] / most - 1.0 for name, most in budget.items()}


def over_budget(costs: Mapping[str, float], budget: Mapping[str, float]) -> dict[str, float]:
    """Each budgeted cost over its maximum, with its overshoot. Empty: within budget."""
    return {name: value for name, value in constraints(costs, budget).items() if value > 0}


def budget_reason(costs: Mapping[str, float], budget: Mapping[str, float]) -> str:
    """Why a model is over `budget` ("over budget: serve_ms 2.1 > 2"), "" when within it. A
    cost that was never measured (a model from before costs were) counts as over."""
    missing = [name for name in budget if name not in costs]
    if missing:
        return f"over budget: {', '.join(missing)} not measured"
    overshoot = over_budget(costs, budget)
    if not overshoot:
        return ""
    return "over budget: " + ", ".join(
        f"{name} {costs[name]:g} > {budget[name]:g}" for name in overshoot
    )


def _frozen_forward(keras_model: Any) -> tuple[tf.Graph, str, list[str]]:
    """The shop's forward graph for one photo, its variables folded into constants."""
    concrete = forward_graph(keras_model, batch_size=1).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    return graph, frozen.inputs[0].name, [t.name for t in frozen.outputs]


def _time_one_photo(graph: tf.Graph, inputs: str, outputs: list[str]) -> tuple[float, float]:
    one_thread = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
    )
    photo = np.random.default_rng(0).random((1, SIZE, SIZE, 1), dtype=np.float32)
    with tf.compat.v1.Session(graph=graph, config=one_thread) as session:
        for _ in range(WARMUP_CALLS):
            session.run(outputs, {inputs: photo})
        least, most = TIMED_CALLS
        times: list[float] = []
        started = time.perf_counter()
        while len(times) < most and (
            len(times) < least or time.perf_counter() - started < TIMED_SECONDS
        ):
            start = time.perf_counter()
            session.run(outputs, {inputs: photo})
            times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 95))


def _float_ops(graph: tf.Graph) -> int:
    """TensorFlow's own count (tf.profiler's float_operation) over the frozen graph."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger = tf.get_logger()  # the profiler warns that it is a TensorFlow 1 API, every call
    level = logger.level
    logger.setLevel("ERROR")
    try:
        return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)
    finally:
        logger.setLevel(level)


def _saved_bytes(keras_model: Any) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        keras_model.save(path)
        return os.path.getsize(path)

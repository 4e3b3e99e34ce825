"""The input pipeline: tf.data over the in-memory arrays, with training-only augmentation.

Batches are gathered by shuffled index (one small shuffle of indices per epoch, not of
images), augmented whole-batch in a `map` that runs beside training (autotuned, prefetched),
and drawn from stateless random ops seeded by the run's seed: the same seed gives the same
batches and the same augmented images, epoch after epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from fashion_models.train.params import NUM_CLASSES

EVAL_BATCH = 512  # validation and test passes: no gradients, so bigger batches are cheaper
# Random erasing (Zhong et al. 2020): one rectangle of 2-20% of the image with an aspect
# ratio between 0.3 and 1/0.3, set to 0 (the background of Fashion-MNIST).
ERASE_AREA = (0.02, 0.2)
ERASE_ASPECT = (0.3, 1 / 0.3)


@dataclass(frozen=True)
class Augmentation:
    """What the training batches get; none of it touches validation or test images."""

    shift: int = 0  # random translation by up to this many pixels (zero padding)
    flip: bool = False  # random horizontal mirror, half of the images
    erasing: float = 0.0  # probability of erasing one random rectangle
    flip_order: str = "random"  # or alternating: each image's mirror flips every epoch

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.flip or self.erasing > 0

    @property
    def alternating(self) -> bool:
        """Whether the flip alternates per image, which needs the epoch in the pipeline: the
        training dataset is then endless and `fit` passes steps_per_epoch."""
        return self.flip and self.flip_order == "alternating"


NO_AUGMENTATION = Augmentation()


def steps_per_epoch(images: int, batch_size: int) -> int:
    return max(1, math.ceil(images / batch_size))


def training_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    augmentation: Augmentation = NO_AUGMENTATION,
    one_hot: bool = False,
) -> tf.data.Dataset:
    """Shuffled (seeded, anew each epoch), batched, augmented, prefetched training data;
    endless when the flip alternates (`augmentation.alternating`)."""
    images, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    order = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    order = order.batch(batch_size)
    if augmentation.alternating:
        # Each image's mirror in the first epoch, drawn by the run's seed; in epoch e it is
        # that one if e is even, else its opposite. The batch count tells the epoch.
        first = tf.constant(np.random.default_rng(seed).random(len(x)) < 0.5)
        steps = steps_per_epoch(len(x), batch_size)
        batches = order.repeat().enumerate().map(
            lambda step, idx: (
                tf.gather(images, idx), _targets(tf.gather(labels, idx), one_hot),
                tf.not_equal(tf.gather(first, idx), tf.equal(step // steps % 2, 1)),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )  # fmt: skip
    else:
        batches = order.map(
            lambda idx: (tf.gather(images, idx), _targets(tf.gather(labels, idx), one_hot)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if augmentation.active:
        # One stateless seed per batch, from a stream seeded by the run and drawn anew
        # (deterministically) each epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip(batches, seeds).map(
            lambda batch, batch_seed: (
                augment(batch[0], batch_seed, augmentation, batch[2] if len(batch) > 2 else None),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )  # fmt: skip
    return batches.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, *, one_hot: bool = False) -> tf.data.Dataset:
    """Validation data in order, unaugmented, in large batches."""
    labels = _targets(tf.convert_to_tensor(y), one_hot)
    data = tf.data.Dataset.from_tensor_slices((x, labels))
    return data.batch(EVAL_BATCH).prefetch(tf.data.AUTOTUNE)


def _targets(labels: tf.Tensor, one_hot: bool) -> tf.Tensor:
    return tf.one_hot(labels, NUM_CLASSES) if one_hot else labels


def augment(
    images: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation,
    mirror: tf.Tensor | None = None,
) -> tf.Tensor:  # fmt: skip
    """A batch (B, H, W, C) augmented image by image, whole-batch ops only (no per-image
    Python or image warps): translation is a gather from the zero-padded batch, flipping a
    select, erasing a mask. `seed` is a stateless seed of shape (2,); `mirror`, (B,) bools,
    says which images to flip where the flip alternates (else the seed draws them)."""
    keys = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    if augmentation.shift > 0:
        images = _translate(images, augmentation.shift, keys[0], keys[1], count, height, width)
    if augmentation.flip:
        if mirror is None:
            mirror = tf.random.stateless_uniform([count], keys[2]) < 0.5
        images = tf.where(mirror[:, None, None, None], tf.reverse(images, [2]), images)
    if augmentation.erasing > 0:
        images = _erase(images, augmentation.erasing, keys[3], keys[4], count, height, width)
    return images


def _translate(
    images: tf.Tensor, shift: int, key_y: tf.Tensor, key_x: tf.Tensor, count, height, width
) -> tf.Tensor:
    padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
    dy = tf.random.stateless_uniform([count], key_y, 0, 2 * shift + 1, dtype=tf.int32)
    dx = tf.random.stateless_uniform([count], key_x, 0, 2 * shift + 1, dtype=tf.int32)
    rows = dy[:, None] + tf.range(height)[None, :]
    cols = dx[:, None] + tf.range(width)[None, :]
    padded = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(padded, cols, axis=2, batch_dims=1)


def _erase(
    images: tf.Tensor, probability: float, key_box: tf.Tensor, key_place: tf.Tensor,
    count, height, width,
) -> tf.Tensor:  # fmt: skip
    box = tf.random.stateless_uniform([count, 2], key_box)
    area = (ERASE_AREA[0] + box[:, 0] * (ERASE_AREA[1] - ERASE_AREA[0])) * (height * width)
    low, high = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    aspect = tf.exp(low + box[:, 1] * (high - low))
    box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32), 1, height)
    box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32), 1, width)
    place = tf.random.stateless_uniform([count, 3], key_place)
    top = tf.cast(place[:, 0] * tf.cast(height - box_h + 1, tf.float32), tf.int32)
    left = tf.cast(place[:, 1] * tf.cast(width - box_w + 1, tf.float32), tf.int32)
    erased = place[:, 2] < probability
    rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    mask = in_rows[:, :, None] & in_cols[:, None, :] & erased[:, None, None]
    return tf.where(mask[..., None], tf.zeros_like(images), images)

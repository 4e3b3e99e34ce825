"""Tests for fashion_models.train.pipeline: the tf.data input pipeline and its training-only
augmentation, on real Fashion-MNIST images (no training)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from fashion_models.train.data import Splits
from fashion_models.train.pipeline import (
    ERASE_AREA,
    Augmentation,
    augment,
    evaluation_dataset,
    steps_per_epoch,
    training_dataset,
)

EVERYTHING = Augmentation(shift=2, flip=True, erasing=0.5)


def epochs_of(dataset: tf.data.Dataset, epochs: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Each epoch's batches as (images, targets) arrays: one pass over the dataset per epoch,
    as model.fit makes."""
    return [[(x.numpy(), y.numpy()) for x, y in dataset] for _ in range(epochs)]


def indexed(splits: Splits, count: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """`count` real images, each labelled with its own index, so a batch tells which it holds."""
    return splits.x_train[:count], np.arange(count, dtype=np.int64)


def assert_same_epochs(a: list, b: list) -> None:
    assert len(a) == len(b)
    for epoch_a, epoch_b in zip(a, b, strict=True):
        assert len(epoch_a) == len(epoch_b)
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b, strict=True):
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_array_equal(xa, xb)


def test_each_image_once_per_epoch_with_its_own_label_in_a_new_order(
    small_splits: Splits,
) -> None:
    x, y = indexed(small_splits, 100)
    epochs = epochs_of(training_dataset(x, y, batch_size=32, seed=3), 3)
    orders = []
    for batches in epochs:
        assert [len(b[1]) for b in batches] == [32, 32, 32, 4]
        assert len(batches) == steps_per_epoch(100, 32)
        order = np.concatenate([labels for _, labels in batches])
        assert sorted(order) == list(range(100))  # every image exactly once
        for images, labels in batches:  # no augmentation: each image is its own, untouched
            np.testing.assert_array_equal(images, x[labels])
        orders.append(order)
    assert not np.array_equal(orders[0], np.arange(100))  # shuffled
    assert not np.array_equal(orders[0], orders[1])  # anew each epoch
    assert not np.array_equal(orders[1], orders[2])


def test_the_same_seed_gives_the_same_batches_and_another_seed_others(
    small_splits: Splits,
) -> None:
    x, y = indexed(small_splits)
    first = epochs_of(training_dataset(x, y, batch_size=32, seed=5, augmentation=EVERYTHING), 2)
    again = epochs_of(training_dataset(x, y, batch_size=32, seed=5, augmentation=EVERYTHING), 2)
    assert_same_epochs(first, again)  # order and augmented pixels alike, epoch after epoch
    other = epochs_of(training_dataset(x, y, batch_size=32, seed=6, augmentation=EVERYTHING), 1)
    assert not np.array_equal(first[0][0][1], other[0][0][1])
    # The same image is augmented differently in the next epoch.
    by_image = [
        {int(i): image for images, labels in epoch for i, image in zip(labels, images, strict=True)}
        for epoch in first
    ]
    changed = [i for i in range(len(x)) if not np.array_equal(by_image[0][i], by_image[1][i])]
    assert len(changed) > len(x) // 2


def test_augmentation_changes_training_batches_only(small_splits: Splits) -> None:
    x, y = indexed(small_splits)
    train = epochs_of(training_dataset(x, y, batch_size=50, seed=0, augmentation=EVERYTHING), 1)
    augmented = np.concatenate([images for images, _ in train[0]])
    order = np.concatenate([labels for _, labels in train[0]])
    assert augmented.dtype == np.float32 and augmented.shape == x.shape
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0
    untouched = [np.array_equal(a, x[i]) for a, i in zip(augmented, order, strict=True)]
    assert sum(untouched) < len(x) // 4
    # Validation and test data: in order, every pixel as it was.
    evaluation = [(a.numpy(), b.numpy()) for a, b in evaluation_dataset(x, y)]
    np.testing.assert_array_equal(np.concatenate([a for a, _ in evaluation]), x)
    np.testing.assert_array_equal(np.concatenate([b for _, b in evaluation]), y)


def test_one_hot_targets(small_splits: Splits) -> None:
    x, y = small_splits.x_train[:64], small_splits.y_train[:64]
    train = training_dataset(x, y, batch_size=16, seed=0, one_hot=True)
    for images, targets in train:
        assert targets.shape == (images.shape[0], 10)
        # Each row is the one-hot vector of that image's own label.
        index = [int(np.flatnonzero((x == img).all(axis=(1, 2, 3)))[0]) for img in images.numpy()]
        np.testing.assert_array_equal(targets.numpy(), np.eye(10, dtype=np.float32)[y[index]])
    _, evaluation_targets = next(iter(evaluation_dataset(x, y, one_hot=True)))
    np.testing.assert_array_equal(evaluation_targets.numpy(), np.eye(10)[y])
    _, sparse = next(iter(training_dataset(x, y, batch_size=16, seed=0)))
    assert sparse.shape == (16,)


def test_shift_moves_a_bright_pixel_at_most_n_pixels_each_way() -> None:
    images = np.zeros((400, 28, 28, 1), np.float32)
    images[:, 14, 10] = 1.0
    out = augment(tf.constant(images), tf.constant([1, 2]), Augmentation(shift=3)).numpy()
    assert out.shape == images.shape
    np.testing.assert_array_equal(out.sum(axis=(1, 2, 3)), 1.0)  # the pixel is kept, whole
    rows, cols = np.nonzero(out[..., 0])[1:]
    offsets = set(zip(rows - 14, cols - 10, strict=True))
    assert offsets <= set(itertools.product(range(-3, 4), repeat=2))
    assert len(offsets) >= 40  # nearly all 49 translations turn up in 400 draws


def test_shift_is_a_translation_with_zero_fill(small_splits: Splits) -> None:
    x = small_splits.x_train[:64]
    out = augment(tf.constant(x), tf.constant([7, 8]), Augmentation(shift=2)).numpy()

    def translated(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
        return padded[2 - dy : 30 - dy, 2 - dx : 30 - dx]

    for image, result in zip(x, out, strict=True):
        candidates = [
            (dy, dx)
            for dy, dx in itertools.product(range(-2, 3), repeat=2)
            if np.array_equal(result, translated(image, dy, dx))
        ]
        assert candidates, "not a translation by at most 2 pixels"
    assert not np.array_equal(out, x)


def test_flip_mirrors_about_half_of_the_images(small_splits: Splits) -> None:
    x = small_splits.x_train  # 480 real images
    out = augment(tf.constant(x), tf.constant([0, 9]), Augmentation(flip=True)).numpy()
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x, strict=True)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x, strict=True)])
    assert (mirrored | kept).all()  # nothing else happens to an image
    assert 0.4 < mirrored.mean() < 0.6


def test_erasing_zeros_one_rectangle_with_the_asked_probability() -> None:
    images = np.ones((2000, 28, 28, 1), np.float32)  # every erased pixel shows
    out = augment(tf.constant(images), tf.constant([4, 2]), Augmentation(erasing=0.3)).numpy()
    erased = out.min(axis=(1, 2, 3)) == 0.0
    assert 0.25 < erased.mean() < 0.35
    assert set(np.unique(out)) == {0.0, 1.0}
    areas = []
    for image in out[erased][..., 0]:
        rows, cols = np.nonzero(image == 0.0)
        box = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert (box == 0.0).all()  # one solid rectangle
        areas.append(box.size)
    low, high = ERASE_AREA[0] * 784, ERASE_AREA[1] * 784
    assert 0.5 * low <= min(areas) and max(areas) <= 1.3 * high
    assert np.median(areas) > 2 * low  # sizes spread over the range, not all tiny


def test_augment_is_reproducible_from_its_seed(small_splits: Splits) -> None:
    x = tf.constant(small_splits.x_train[:32])
    a = augment(x, tf.constant([1, 1]), EVERYTHING).numpy()
    b = augment(x, tf.constant([1, 1]), EVERYTHING).numpy()
    c = augment(x, tf.constant([1, 2]), EVERYTHING).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(("images", "batch", "steps"), [(480, 32, 15), (481, 32, 16), (5, 32, 1)])
def test_steps_per_epoch(images: int, batch: int, steps: int) -> None:
    assert steps_per_epoch(images, batch) == steps


def test_alternating_flip_mirrors_each_image_in_every_other_epoch(small_splits: Splits) -> None:
    x, y = indexed(small_splits, 100)
    alternating = Augmentation(flip=True, flip_order="alternating")
    dataset = training_dataset(x, y, batch_size=32, seed=5, augmentation=alternating)
    batches = iter(dataset)  # endless: fit cuts it into epochs of steps_per_epoch batches
    mirrored_by_epoch = []
    for _ in range(3):
        mirrored = np.zeros(100, dtype=bool)
        seen = []
        for _ in range(steps_per_epoch(100, 32)):
            images, labels = (t.numpy() for t in next(batches))
            for image, label in zip(images, labels, strict=True):
                flipped = np.array_equal(image, x[label][:, ::-1])
                assert flipped or np.array_equal(image, x[label])  # nothing else happens
                mirrored[label] = flipped and not np.array_equal(image, x[label])
            seen.extend(labels)
        assert sorted(seen) == list(range(100))  # each image once per epoch, as without it
        mirrored_by_epoch.append(mirrored)
    first, second, third = mirrored_by_epoch
    assert 0.3 < first.mean() < 0.7  # the first epoch draws about half
    np.testing.assert_array_equal(second, ~first)  # then each image the other way round
    np.testing.assert_array_equal(third, first)


def test_alternating_flip_is_reproducible_from_the_seed(small_splits: Splits) -> None:
    x, y = indexed(small_splits, 64)
    alternating = Augmentation(flip=True, flip_order="alternating")

    def first_batches(seed: int) -> list[np.ndarray]:
        dataset = training_dataset(x, y, batch_size=16, seed=seed, augmentation=alternating)
        return [images.numpy() for images, _ in dataset.take(8)]

    for a, b in zip(first_batches(1), first_batches(1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b) for a, b in zip(first_batches(1), first_batches(2), strict=True)
    )

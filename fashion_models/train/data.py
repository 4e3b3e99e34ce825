"""Fashion-MNIST from local IDX files, verified by SHA-256, and deterministic stratified splits."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from fashion_models.errors import FatalError

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Of the decompressed content: the same whether a copy is stored gzipped or not.
SHA256: dict[str, str] = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
DOWNLOAD_SOURCE = "keras.datasets download"
_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
_REINSTALL = (
    "Fix: reinstall with `apt-get install --reinstall dataset-fashion-mnist` "
    "or point FASHION_MNIST_DIR at a good copy."
)
_INSTALL = (
    "Fix: `apt-get install dataset-fashion-mnist`, or set FASHION_MNIST_DIR to a directory "
    "holding the four files (gzipped or not)."
)
_IDX_MAGIC = {2049: 1, 2051: 3}  # magic number -> number of dimensions (labels, images)

_Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class DataError(FatalError):
    """Fashion-MNIST missing or corrupt: the message names the file, where we looked, the fix."""


class SplitError(DataError, ValueError):
    """The requested split sizes cannot be made (checked earlier for a study file)."""


@dataclass(frozen=True)
class FashionMNIST:
    """The four arrays as stored (uint8, read-only: they are shared through the cache)."""

    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: str  # directory the files came from, or DOWNLOAD_SOURCE
    checksums: dict[str, str]  # role -> verified sha256


@dataclass(frozen=True)
class Splits:
    """Model-ready arrays: images float32 in [0, 1] shaped (n, 28, 28, 1), labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


_CACHE: dict[str, FashionMNIST] = {}


def candidate_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where to look, in order: $FASHION_MNIST_DIR (if set), /usr/share/datasets/fashion-mnist/
    (Debian package dataset-fashion-mnist), the Keras cache ($KERAS_HOME or ~/.keras, then
    datasets/fashion-mnist/, where keras.datasets.fashion_mnist stores its download)."""
    env = os.environ if env is None else env
    dirs = [Path(env["FASHION_MNIST_DIR"]).expanduser()] if env.get("FASHION_MNIST_DIR") else []
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    keras_home = Path(env["KERAS_HOME"]).expanduser() if env.get("KERAS_HOME") else home / ".keras"
    return [*dirs, _SYSTEM_DIR, keras_home / "datasets" / "fashion-mnist"]


def _find_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Role -> path of each file present (gzipped preferred, as Debian and Keras store them),
    and the stems of those missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, stem in FILES.items():
        path = next((p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()), None)
        if path is None:
            missing.append(stem)
        else:
            found[role] = path
    return found, missing


def _parse_idx(name: str, content: bytes) -> np.ndarray:
    """The array in an IDX file's content, after checking its magic number and length."""
    magic = int.from_bytes(content[:4], "big") if len(content) >= 4 else None
    if magic not in _IDX_MAGIC:
        raise DataError(
            f"Fashion-MNIST file {name} is corrupt: magic number {magic} is not an IDX "
            f"labels (2049) or images (2051) header. {_REINSTALL}"
        )
    header = 4 + 4 * _IDX_MAGIC[magic]
    shape = tuple(int.from_bytes(content[i : i + 4], "big") for i in range(4, header, 4))
    expected = header + int(np.prod(shape))
    if len(content) != expected:
        raise DataError(
            f"Fashion-MNIST file {name} is corrupt: its header announces shape {shape} "
            f"({expected} bytes) but it holds {len(content)} bytes. {_REINSTALL}"
        )
    # frombuffer over immutable bytes gives a read-only array: the cached copy cannot be edited.
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def _verified(role: str, name: str, content: bytes) -> tuple[np.ndarray, str]:
    """The array in one file's decompressed content, and its SHA-256 once checked."""
    array = _parse_idx(name, content)
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256[role]:
        raise DataError(
            f"Fashion-MNIST file {name} is corrupt: SHA-256 of its content is {digest}, "
            f"expected {SHA256[role]}. {_REINSTALL}"
        )
    return array, digest


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as err:  # bad or truncated gzip, unreadable file
        raise DataError(
            f"Fashion-MNIST file {path} is corrupt or unreadable ({err}). {_REINSTALL}"
        ) from err


def _assemble(contents: dict[str, tuple[str, bytes]], source: str) -> FashionMNIST:
    """Verify each role's (name, content) and gather the arrays."""
    verified = {role: _verified(role, *contents[role]) for role in FILES}
    x_train, y_train, x_test, y_test = (verified[role][0] for role in FILES)
    checksums = {role: digest for role, (_, digest) in verified.items()}
    return FashionMNIST(x_train, y_train, x_test, y_test, source, checksums)


def _download_with_keras() -> _Arrays:
    """The last resort: Keras downloads into its cache (needs the network)."""
    import keras  # deferred: importing Keras starts TensorFlow, which the local path never needs

    result: _Arrays = keras.datasets.fashion_mnist.load_data()
    return result


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX file content an array was parsed from, so a download is checked by SHA256 too."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 2051 if array.ndim == 3 else 2049
    return b"".join(n.to_bytes(4, "big") for n in (magic, *array.shape)) + array.tobytes()


def load_fashion_mnist(directory: str | Path | None = None) -> FashionMNIST:
    """Load and verify the four IDX files: from `directory` only, when given; otherwise from the
    first of candidate_dirs() holding all four, or else a keras.datasets download. Cached per
    process, keyed by the resolved directory."""
    if directory is not None:
        resolved = Path(directory).expanduser().resolve()
        paths, missing = _find_files(resolved)
        if missing:
            raise DataError(
                f"Fashion-MNIST file(s) {', '.join(missing)} (.gz or uncompressed) missing "
                f"from {resolved}. {_INSTALL}"
            )
        return _load_dir(resolved, paths)
    looked: list[str] = []
    for candidate in candidate_dirs():
        resolved = candidate.expanduser().resolve()
        paths, missing = _find_files(resolved)
        if not missing:
            return _load_dir(resolved, paths)
        state = f"missing {', '.join(missing)}" if resolved.is_dir() else "no such directory"
        looked.append(f"  {resolved}: {state}")
    if DOWNLOAD_SOURCE not in _CACHE:
        try:
            (x_train, y_train), (x_test, y_test) = _download_with_keras()
        except Exception as err:  # Keras raises a bare Exception when the URL fetch fails
            raise DataError(
                "Fashion-MNIST not found. Looked in:\n" + "\n".join(looked) + "\nand the "
                f"keras.datasets.fashion_mnist download failed ({err}).\n{_INSTALL}"
            ) from err
        arrays = dict(zip(FILES, (x_train, y_train, x_test, y_test), strict=True))
        contents = {r: (f"{r} from the download", _idx_bytes(a)) for r, a in arrays.items()}
        _CACHE[DOWNLOAD_SOURCE] = _assemble(contents, DOWNLOAD_SOURCE)
    return _CACHE[DOWNLOAD_SOURCE]


def _load_dir(directory: Path, paths: dict[str, Path]) -> FashionMNIST:
    # Sizes and mtimes are in the key so that a replaced or repaired copy is read again.
    key = str((directory, [(p, p.stat().st_size, p.stat().st_mtime_ns) for p in paths.values()]))
    if key not in _CACHE:
        contents = {role: (str(path), _read(path)) for role, path in paths.items()}
        _CACHE[key] = _assemble(contents, str(directory))
    return _CACHE[key]


def _stratified_subset(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of `size` items drawn so each class keeps its share (largest remainder)."""
    classes, counts = np.unique(labels, return_counts=True)
    quotas = counts * size / len(labels)
    take = np.floor(quotas).astype(np.int64)
    # Stable sort: ties in the remainder go to the lower class, whatever the seed.
    order = np.argsort(-(quotas - take), kind="stable")
    take[order[: size - int(take.sum())]] += 1
    chosen = [
        rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def _split_indices(
    data: FashionMNIST,
    validation_split: float,
    train_size: int | None,
    test_size: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices into the 60,000 training images (train, val) and the 10,000 test images."""
    n_classes, y_train, y_test = len(CLASS_NAMES), data.y_train, data.y_test
    if not 0 < validation_split < 1:
        raise SplitError(f"`0 < validation_split < 1` must hold, but got {validation_split=}.")
    for name, size, total in (
        ("train_size", train_size, len(y_train)),
        ("test_size", test_size, len(y_test)),
    ):
        if size is not None and (isinstance(size, bool) or not isinstance(size, Integral)):
            raise SplitError(f"{name} must be an integer or None, but got {size!r}.")
        if size is not None and not n_classes <= size <= total:
            raise SplitError(
                f"`{n_classes} <= {name} <= {total}` must hold, but got {name}={size}."
            )
    # Separate streams, so changing train_size leaves the test subset as it was.
    train_rng, test_rng = (np.random.default_rng([seed, stream]) for stream in (0, 1))
    pool = np.arange(len(y_train))
    if train_size is not None and train_size < len(y_train):
        pool = _stratified_subset(y_train, int(train_size), train_rng)
    test_idx = np.arange(len(y_test))
    if test_size is not None and test_size < len(y_test):
        test_idx = _stratified_subset(y_test, int(test_size), test_rng)
    n_val = round(validation_split * len(pool))
    # Stratifying needs two images per class in the pool, and each side needs every class.
    if min(n_val, len(pool) - n_val) < n_classes or len(pool) < 2 * n_classes:
        raise SplitError(
            f"{validation_split=} of {len(pool)} training images leaves {len(pool) - n_val} for "
            f"training and {n_val} for validation; each needs at least {n_classes}, one per "
            "class. Use a larger train_size or a validation_split nearer 0.5."
        )
    fit_idx, val_idx = train_test_split(
        pool, test_size=n_val, stratify=y_train[pool], random_state=seed
    )
    for name, idx in (("train", fit_idx), ("validation", val_idx)):
        if len(np.unique(y_train[idx])) < n_classes:  # sklearn's rounding can starve a class
            raise SplitError(f"The {name} split lacks a class; use a larger train_size.")
    return np.asarray(fit_idx), np.asarray(val_idx), test_idx


def _images(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) / np.float32(255))[..., np.newaxis]


def make_splits(
    data: FashionMNIST,
    *,
    validation_split: float,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Deterministic stratified splits: train_size images drawn from the 60,000 (None = all),
    round(validation_split * train_size) of them for validation (sklearn, stratified), and a
    stratified test_size subset of the 10,000 t10k images (None = all). Same seed, same arrays."""
    fit_idx, val_idx, test_idx = _split_indices(data, validation_split, train_size, test_size, seed)
    return Splits(
        x_train=_images(data.x_train[fit_idx]),
        y_train=data.y_train[fit_idx].astype(np.int64),
        x_val=_images(data.x_train[val_idx]),
        y_val=data.y_train[val_idx].astype(np.int64),
        x_test=_images(data.x_test[test_idx]),
        y_test=data.y_test[test_idx].astype(np.int64),
    )

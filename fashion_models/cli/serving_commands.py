"""`optuna-run predict`, `optuna-run catalog index`, `optuna-run similar`: parsing and printing.

Exit codes: 0 every image answered; 1 some image could not be read (each has its own error,
the others are still answered), or the model or catalog cannot be used; 2 bad arguments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from fashion_models.cli.guard import EXIT_FATAL, guarded
from fashion_models.config.sections import DEFAULT_TRACKING_URI, RegistrySection

DEFAULT_MODEL = f"models:/{RegistrySection.model_name}@{RegistrySection.alias}"
EXIT_FAILED = EXIT_FATAL  # some image could not be answered

_model_option = click.option(
    "--model",
    "model_uri",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Servable model URI: the registry's alias holder by default.",
)
_tracking_option = click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
    show_default=f"$MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI}",
    help="MLflow tracking and registry URI.",
)


def _read(path: Path) -> bytes | str:
    """The file's bytes, or why it cannot be read (checked against the byte limit first)."""
    from fashion_models.serving.images import ImageError, read_file

    try:
        return read_file(path)
    except ImageError as err:
        return str(err)


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_model_option
@_tracking_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list, for scripts.")
@click.pass_context
def predict(
    ctx: click.Context, images: tuple[Path, ...], model_uri: str, tracking_uri: str, as_json: bool
) -> None:
    """The garment class of each IMAGE, with the top-3 probabilities."""
    guarded(ctx, lambda: _predict(images, model_uri, tracking_uri, as_json))


def _predict(images: tuple[Path, ...], model_uri: str, tracking_uri: str, as_json: bool) -> int:
    from fashion_models.run.served_model import load_classifier
    from fashion_models.serving.pyfunc import Prediction, classify

    contents = [_read(path) for path in images]
    readable = [c for c in contents if isinstance(c, bytes)]
    answers = iter(classify(load_classifier(tracking_uri, model_uri).keras_model, readable))
    results = [next(answers) if isinstance(c, bytes) else Prediction(error=c) for c in contents]
    rows: list[dict[str, Any]] = [
        {
            "image": str(path),
            "class_name": r.class_name,
            "probability": r.probability,
            "top": [{"class_name": n, "probability": p} for n, p in r.top],
            "error": r.error,
        }
        for path, r in zip(images, results, strict=True)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        if row["error"] is not None:
            click.echo(f"{row['image']}: error: {row['error']}")
            continue
        top = ", ".join(f"{t['class_name']} {t['probability']:.3f}" for t in row["top"])
        click.echo(f"{row['image']}: {row['class_name']}  (top 3: {top})")
    return EXIT_FAILED if any(r.error for r in results) else 0


@click.group()
def catalog() -> None:
    """The stock catalog for `optuna-run similar`."""


@catalog.command("index")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out", default=Path("catalog.npz"), show_default=True, type=click.Path(path_type=Path)
)
@_model_option
@_tracking_option
@click.pass_context
def index(
    ctx: click.Context, directory: Path, out: Path, model_uri: str, tracking_uri: str
) -> None:
    """Embed every stock photo under DIRECTORY into the index file OUT.

    The index is tied to the model version that made it: rebuild it when the champion changes.
    """
    guarded(ctx, lambda: _index(directory, out, model_uri, tracking_uri))


def _index(directory: Path, out: Path, model_uri: str, tracking_uri: str) -> int:
    from fashion_models.run.served_model import pinned_classifier
    from fashion_models.serving import catalog as cat

    keras_model, identity = pinned_classifier(tracking_uri, model_uri)
    built, errors = cat.build(keras_model, directory, identity.as_dict())
    cat.save(built, out)
    for path, reason in errors.items():
        click.echo(f"{path}: error: {reason}")
    click.echo(
        f"indexed {len(built.paths)} stock photos into {out} with {identity.name} version "
        f"{identity.version}; rebuild the index when the champion changes"
    )
    return EXIT_FAILED if errors else 0


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--catalog", "catalog_path", required=True, type=click.Path(path_type=Path))
@click.option("-k", default=5, show_default=True, type=click.IntRange(min=1))
@_model_option
@_tracking_option
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@click.pass_context
def similar(
    ctx: click.Context,
    image: Path,
    catalog_path: Path,
    k: int,
    model_uri: str,
    tracking_uri: str,
    as_json: bool,
) -> None:
    """The K stock items closest to IMAGE among those of its predicted class."""
    guarded(ctx, lambda: _similar(image, catalog_path, k, model_uri, tracking_uri, as_json))


def _similar(
    image: Path, catalog_path: Path, k: int, model_uri: str, tracking_uri: str, as_json: bool
) -> int:
    from fashion_models.run.served_model import pinned_classifier
    from fashion_models.serving import catalog as cat
    from fashion_models.serving.images import ImageError

    stock = cat.load(catalog_path)
    keras_model, identity = pinned_classifier(tracking_uri, model_uri)
    cat.check_version(stock, identity.name, identity.version)  # before any embedding
    content = _read(image)
    try:
        if isinstance(content, str):
            raise ImageError(content)
        class_name, matches = cat.similar(stock, keras_model, content, k)
    except ImageError as err:
        click.echo(f"{image}: error: {err}", err=True)
        return EXIT_FAILED
    if as_json:
        found = [{"path": m.path, "distance": m.distance} for m in matches]
        click.echo(json.dumps({"image": str(image), "class_name": class_name, "similar": found}))
        return 0
    click.echo(f"{image}: {class_name}, {len(matches)} similar in stock")
    for rank, m in enumerate(matches, 1):
        click.echo(f"  {rank}. {m.path}  distance {m.distance:.4f}")
    return 0

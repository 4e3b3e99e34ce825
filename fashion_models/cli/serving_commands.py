"""`optuna-run predict`, `catalog index`, `similar` and `serve`: parsing and printing.

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
@click.argument("stock", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out", default=Path("catalog.npz"), show_default=True, type=click.Path(path_type=Path)
)
@_model_option
@_tracking_option
@click.pass_context
def index(ctx: click.Context, stock: Path, out: Path, model_uri: str, tracking_uri: str) -> None:
    """Embed the photo of every item of STOCK into the index file OUT.

    STOCK is a CSV with the columns sku,name,photo,quantity (photo relative to the CSV), or a
    folder of photos (sku = the photo's path in it, quantity 1). The index is tied to the model
    version that made it: rebuild it when the champion changes; a change of quantities needs
    no rebuild.
    """
    guarded(ctx, lambda: _index(stock, out, model_uri, tracking_uri))


def _index(stock: Path, out: Path, model_uri: str, tracking_uri: str) -> int:
    from fashion_models.run.served_model import pinned_classifier
    from fashion_models.serving import catalog as cat
    from fashion_models.serving.stock import read_stock

    items = read_stock(stock)  # a bad stock file fails before the model loads
    keras_model, identity = pinned_classifier(tracking_uri, model_uri)
    built, errors = cat.build(keras_model, items, identity.as_dict())
    cat.save(built, out)
    photos = {item.sku: item.photo for item in items}
    for sku, reason in errors.items():
        click.echo(f"{photos[sku]}: error: {reason}")
    click.echo(
        f"indexed {len(built.paths)} stock photos into {out} with {identity.name} version "
        f"{identity.version}; rebuild the index when the champion changes"
    )
    return EXIT_FAILED if errors else 0


@catalog.command("demo")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--items", default=200, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def demo(ctx: click.Context, directory: Path, items: int) -> None:
    """Write a demonstration stock into DIRECTORY: stock.csv and photos/, made from real
    Fashion-MNIST test images (every seventh item sold out), to try `optuna-run serve`."""
    guarded(ctx, lambda: _demo(directory, items))


def _demo(directory: Path, items: int) -> int:
    from fashion_models.serving.demo_stock import write_demo_stock

    stock = write_demo_stock(directory, items)
    click.echo(f"wrote {stock} with {items} items and their photos under {directory / 'photos'}")
    return 0


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
        class_name, matches = cat.similar(cat.SearchIndex(stock), keras_model, content, k)
    except ImageError as err:
        click.echo(f"{image}: error: {err}", err=True)
        return EXIT_FAILED
    if as_json:
        found = [{"sku": m.sku, "path": m.path, "distance": m.distance} for m in matches]
        click.echo(json.dumps({"image": str(image), "class_name": class_name, "similar": found}))
        return 0
    click.echo(f"{image}: {class_name}, {len(matches)} similar in stock")
    for rank, m in enumerate(matches, 1):
        click.echo(f"  {rank}. {m.path}  distance {m.distance:.4f}")
    return 0


@click.command()
@click.option(
    "--catalog",
    "stock",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The stock: a CSV (sku,name,photo,quantity) or a folder of photos.",
)
@click.option(
    "--index",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An index from `catalog index`, used when the served version made it; else the "
    "stock is embedded at start and written here.",
)
@_model_option
@_tracking_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--poll-seconds",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="How often to look at the alias and the stock file.",
)
@click.option(
    "--timeout",
    "request_timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds before a request is answered 504.",
)
@click.option(
    "--max-pending",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests answered at once per worker; more get 503.",
)
@click.pass_context
def serve(ctx: click.Context, stock: Path, index: Path | None, **options: Any) -> None:
    """The shop's HTTP service: classify photos, find similar items in stock, MLflow's
    /invocations, the shop page at /, /metrics. Follows the model alias as it moves."""
    guarded(ctx, lambda: _serve(stock, index, **options))


def _serve(
    stock: Path,
    index: Path | None,
    model_uri: str,
    tracking_uri: str,
    host: str,
    port: int,
    workers: int,
    poll_seconds: float,
    request_timeout: float,
    max_pending: int,
) -> int:
    from fashion_models.api.app import ServiceSettings
    from fashion_models.api.server import serve as run_server
    from fashion_models.run.live_shop import ShopSettings
    from fashion_models.serving.stock import read_stock
    from fashion_models.track.experiment import connect
    from fashion_models.track.registry import resolve

    read_stock(stock)  # a bad stock file or an unknown model: one line before any server starts
    connect(tracking_uri)
    identity = resolve(model_uri)
    click.echo(
        f"serving {identity.name} version {identity.version} and the stock {stock} on "
        f"http://{host}:{port}/ with {workers} worker(s)"
    )
    shop = ShopSettings(tracking_uri, model_uri, stock.resolve(), index, poll_seconds)
    run_server(
        ServiceSettings(shop, request_timeout=request_timeout, max_pending=max_pending),
        host,
        port,
        workers,
    )
    return 0

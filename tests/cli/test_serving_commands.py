"""Tests for fashion_models.cli.serving_commands: `optuna-run predict` on real photo-like
files, driven as a user would, against the champion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fashion_models.cli import main
from fashion_models.serving import pyfunc
from fashion_models.train.data import CLASS_NAMES
from tests.helpers import Champion
from tests.serving.photos import photo

pytestmark = pytest.mark.slow


def test_photos_are_classified_about_as_well_as_the_test_set(
    champion: Champion, tmp_path: Path
) -> None:
    x, y = champion.test.x_test, champion.test.y_test
    champion.connect()
    keras_model = pyfunc.load(champion.model_uri).keras_model
    direct = float((np.asarray(keras_model(x, training=False)).argmax(1) == y).mean())
    paths = []
    for i, image in enumerate(x):
        for fmt in ("JPEG", "PNG"):
            path = tmp_path / f"{i}.{fmt.lower()}"
            path.write_bytes(photo(image, fmt, shift=i))
            paths.append(path)

    code, output = champion.cli("predict", *map(str, paths), "--json")
    assert code == 0, output
    rows = json.loads(output)
    assert [r["image"] for r in rows] == [str(p) for p in paths]
    for fmt in ("jpeg", "png"):
        answers = [(r, y[int(Path(r["image"]).stem)]) for r in rows if r["image"].endswith(fmt)]
        accuracy = np.mean([r["class_name"] == CLASS_NAMES[label] for r, label in answers])
        assert direct > 0.6  # a model that learned something, or the comparison means nothing
        assert abs(accuracy - direct) <= 0.05, (fmt, accuracy, direct)
    top = rows[0]["top"]
    assert len(top) == 3 and top[0]["class_name"] == rows[0]["class_name"]
    assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]


def test_bad_files_get_their_own_error_and_the_others_are_answered(
    champion: Champion, tmp_path: Path
) -> None:
    good = tmp_path / "coat.jpg"
    good.write_bytes(photo(champion.test.x_test[0], "JPEG"))
    webp = tmp_path / "coat.webp"
    webp.write_bytes(photo(champion.test.x_test[1], "WEBP"))
    text = tmp_path / "notes.png"
    text.write_text("not an image, just a file named .png\n")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:1500])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    files = [good, text, truncated, webp, empty, missing]

    code, output = champion.cli("predict", *map(str, files))
    assert code == 1  # some images failed
    lines = dict(line.split(": ", 1) for line in output.strip().splitlines())
    assert list(lines) == [str(f) for f in files]
    for answered in (good, webp):
        assert lines[str(answered)].split("  ")[0] in CLASS_NAMES
        assert "(top 3: " in lines[str(answered)]
    assert lines[str(text)].startswith("error: not a readable image")
    assert lines[str(truncated)].startswith("error: corrupt or truncated image")
    assert lines[str(empty)] == "error: empty file (0 bytes)"
    assert lines[str(missing)] == "error: cannot read file (No such file or directory)"


def test_a_model_that_does_not_exist_is_one_error(champion: Champion) -> None:
    result = CliRunner().invoke(
        main,
        ["predict", "x.jpg", "--model", "models:/no-such-model@champion",
         "--tracking-uri", champion.tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no-such-model" in result.output and "Traceback" not in result.output


def test_serve_refuses_a_bad_stock_file_or_model_in_one_line_before_starting(
    champion: Champion, tmp_path: Path
) -> None:
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,name,photo,quantity\nA,a,a.jpg,lots\n")
    code, output = champion.cli("serve", "--catalog", str(stock), "--port", "1")
    assert code == 2
    assert output.strip() == (f"error: {stock}:2: quantity: expected an integer >= 0, found 'lots'")
    stock.write_text("sku,name,photo,quantity\nA,a,a.jpg,1\n")
    result = CliRunner().invoke(
        main,
        ["serve", "--catalog", str(stock), "--model", "models:/no-such-model@champion",
         "--tracking-uri", champion.tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.startswith("error: MLflow: ") and "no-such-model" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_catalog_index_of_a_stock_csv_keeps_skus_names_and_quantities(
    champion: Champion, tmp_path: Path
) -> None:
    from fashion_models.serving import catalog

    (tmp_path / "photos").mkdir()
    for i in range(3):
        (tmp_path / "photos" / f"{i}.jpg").write_bytes(photo(champion.test.x_test[i], "JPEG"))
    stock = tmp_path / "stock.csv"
    stock.write_text(
        "sku,name,photo,quantity\nS-0,Zero,photos/0.jpg,0\nS-1,One,photos/1.jpg,4\n"
        "S-2,Two,photos/2.jpg,1\nS-3,Gone,photos/3.jpg,1\n"
    )
    index = tmp_path / "stock.npz"
    code, output = champion.cli("catalog", "index", str(stock), "--out", str(index))
    assert code == 1  # photos/3.jpg does not exist; the others are indexed
    assert f"{tmp_path / 'photos' / '3.jpg'}: error: cannot read file" in output
    built = catalog.load(index)
    assert list(built.skus) == ["S-0", "S-1", "S-2"] and list(built.quantities) == [0, 4, 1]
    assert built.model["version"] == champion.version and built.built_at
    shown = catalog.SearchIndex(built)  # as indexed: the sold-out S-0 is not shown
    assert [item.sku for item in shown.items] == ["S-1", "S-2"]


def test_catalog_demo_writes_a_stock_the_service_can_read(tmp_path: Path) -> None:
    from fashion_models.serving.pyfunc import prepare
    from fashion_models.serving.stock import read_stock

    result = CliRunner().invoke(main, ["catalog", "demo", str(tmp_path / "demo"), "--items", "15"])
    assert result.exit_code == 0, result.output
    items = read_stock(tmp_path / "demo" / "stock.csv")
    assert [i.sku for i in items] == [f"FM-{n:05d}" for n in range(15)]
    assert [i.quantity == 0 for i in items] == [n % 7 == 0 for n in range(15)]
    assert items[1].name == "Pullover no. 1"  # the test set's second image is a pullover
    for item in items:
        assert prepare(item.photo.read_bytes()).shape == (28, 28, 1)

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

"""The Dockerfile, read as docker reads its instructions (no container runtime here, so it is
never built by the tests or CI): what it copies exists and is not ignored, the study files
the manifests name are in the image at the paths the commands use, and the image is the one
the manifests assume (entrypoint, user, Python, the data package of `make setup`)."""

from __future__ import annotations

import json
import re

from fashion_models.config.study_file import load_config
from fashion_models.deploy.commands import PROGRAM
from fashion_models.deploy.kubernetes_services import IMAGE_UID
from tests.deploy.rendering import REPO

Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _ignored() -> set[str]:
    text = (REPO / ".dockerignore").read_text()
    return {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}


def _copied() -> list[str]:
    return [src for word, args in _instructions() if word == "COPY" for src in args.split()[:-1]]


def test_what_the_image_copies_exists_and_is_not_ignored() -> None:
    copied = _copied()
    assert {"pyproject.toml", "fashion_models", "experiments", "search_spaces"} <= set(copied)
    for source in copied:
        assert (REPO / source).exists(), source
        assert source not in _ignored(), source


def test_the_study_files_the_manifests_name_are_in_the_image() -> None:
    """The commands name experiments/cnn.yaml relative to the WORKDIR; it and its search
    space are copied there."""
    instructions = dict(_instructions())
    assert instructions["WORKDIR"] == "/app"
    config = load_config(REPO / "experiments" / "cnn.yaml", env={})
    for path in (config.path, config.search_space.path):
        top = path.resolve().relative_to(REPO).parts[0]
        assert top in _copied(), path


def test_the_image_is_what_the_manifests_assume() -> None:
    instructions = _instructions()
    first = dict(instructions)
    assert json.loads(first["ENTRYPOINT"]) == [PROGRAM]
    assert first["USER"] == str(IMAGE_UID)
    # The Python of pyproject.toml, the Debian release and data package of `make setup`.
    assert re.fullmatch(r"python:3\.11-slim-bookworm", first["FROM"])
    assert 'requires-python = ">=3.11,<3.12"' in (REPO / "pyproject.toml").read_text()
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "apt-get install -y --no-install-recommends dataset-fashion-mnist" in runs
    assert "dataset-fashion-mnist" in (REPO / "Makefile").read_text()
    assert "pip install ." in runs

"""The layer rule of ARCHITECTURE.md, read from the imports of every module of the package
(imports inside functions included): cli -> run -> track -> search -> config, train; serving
beside track; deploy (cluster renderers) on config alone. No cycles; train/ without Optuna and
MLflow; config/ without TensorFlow; click only in cli/."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import fashion_models

PACKAGE = Path(fashion_models.__file__).parent
# What each layer may import from the package (itself included).
ALLOWED: dict[str, set[str]] = {
    "errors": {"errors"},
    "config": {"config", "errors"},
    "analysis": {"analysis", "errors"},
    "train": {"train", "config", "errors"},
    "search": {"search", "config", "errors"},
    "track": {"track", "search", "config", "train", "errors"},
    "serving": {"serving", "config", "train", "errors"},
    "run": {"run", "track", "search", "serving", "analysis", "config", "train", "errors"},
    "deploy": {"deploy", "config", "errors"},
    "cli": {
        "cli",
        "run",
        "track",
        "search",
        "serving",
        "analysis",
        "deploy",
        "config",
        "train",
        "errors",
    },
    "__init__": {"__init__"},
}
# Third-party packages a layer must not import.
FORBIDDEN: dict[str, set[str]] = {
    "train": {"optuna", "optuna_integration", "mlflow", "click"},
    "analysis": {"optuna", "mlflow", "tensorflow", "keras", "click"},
    "config": {"tensorflow", "keras", "mlflow", "click"},
    "search": {"tensorflow", "keras", "mlflow", "click"},
    "track": {"click"},
    "serving": {"click"},
    "run": {"click"},
    "deploy": {"optuna", "optuna_integration", "tensorflow", "keras", "mlflow", "click"},
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module name `path` imports, wherever the import stands."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            # `from fashion_models.track import reports` imports the module track.reports.
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                names.add(child if child in MODULES else node.module)
    return names


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _own_imports(module: str) -> set[str]:
    return {name for name in _imports(MODULES[module]) if name in MODULES}


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{module} ({layer_of(module)}/) imports {name}"
        for module in sorted(MODULES)
        for name in sorted(_own_imports(module))
        if layer_of(name) not in ALLOWED.get(layer_of(module), set())
    ]
    assert not wrong, "\n".join(wrong)


def test_layers_keep_their_third_party_imports() -> None:
    wrong = [
        f"{module} imports {package}"
        for module in sorted(MODULES)
        for package in sorted({name.split(".")[0] for name in _imports(MODULES[module])})
        if package in FORBIDDEN.get(layer_of(module), set())
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = {module: _own_imports(module) - {module} for module in MODULES}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_loading_a_study_file_starts_no_tensorflow() -> None:
    """`validate` of a bad file stays fast: config/ pulls in no TensorFlow, even indirectly."""
    study = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"
    code = (
        "import sys\n"
        "from fashion_models.config.study_file import load_config\n"
        f"load_config({str(study)!r})\n"
        "loaded = [m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

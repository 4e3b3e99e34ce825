"""The layer rule of ARCHITECTURE.md, read from the imports of every module of the package
(imports inside functions included): cli, api -> run -> track -> search -> config, train;
serving beside track; deploy (cluster renderers) on config alone; errors.py and canvas.py
under all. No cycles; train/ without Optuna and MLflow; config/ without TensorFlow; click only
in cli/; the HTTP framework (FastAPI, Starlette, uvicorn) only in api/; no pyplot anywhere."""

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
# errors.py (the three kinds of failure) and canvas.py (the one way to make a figure) are
# leaves every layer may use.
LEAVES = {"errors", "canvas"}
ALLOWED: dict[str, set[str]] = {
    "errors": {"errors"},
    "canvas": {"canvas"},
    "config": {"config", *LEAVES},
    "analysis": {"analysis", *LEAVES},
    "train": {"train", "config", *LEAVES},
    "search": {"search", "config", *LEAVES},
    "track": {"track", "search", "config", "train", *LEAVES},
    "serving": {"serving", "config", "train", *LEAVES},
    "run": {"run", "track", "search", "serving", "analysis", "config", "train", *LEAVES},
    "deploy": {"deploy", "config", *LEAVES},
    # The HTTP service (issue 20's `optuna-run serve`): routes, status codes and JSON; the
    # model-and-catalog holder it serves is in run/, the request-to-answer logic in serving/.
    "api": {"api", "run", "track", "serving", "config", "train", *LEAVES},
    "cli": {
        "cli",
        "api",
        "run",
        "track",
        "search",
        "serving",
        "analysis",
        "deploy",
        "config",
        "train",
        *LEAVES,
    },
    "__init__": {"__init__"},
}
HTTP_FRAMEWORK = {"fastapi", "starlette", "uvicorn"}
# Third-party packages a layer must not import.
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"click", *HTTP_FRAMEWORK},
    "canvas": {"click", *HTTP_FRAMEWORK},
    "train": {"optuna", "optuna_integration", "mlflow", "click", *HTTP_FRAMEWORK},
    "analysis": {"optuna", "mlflow", "tensorflow", "keras", "click", *HTTP_FRAMEWORK},
    "config": {"tensorflow", "keras", "mlflow", "click", *HTTP_FRAMEWORK},
    "search": {"tensorflow", "keras", "mlflow", "click", *HTTP_FRAMEWORK},
    "track": {"click", *HTTP_FRAMEWORK},
    "serving": {"click", *HTTP_FRAMEWORK},
    "run": {"click", *HTTP_FRAMEWORK},
    "deploy": {
        "optuna",
        "optuna_integration",
        "tensorflow",
        "keras",
        "mlflow",
        "click",
        *HTTP_FRAMEWORK,
    },
    "api": {"click"},
    "cli": HTTP_FRAMEWORK,  # `serve` starts the service through api/
    "__init__": {"click", *HTTP_FRAMEWORK},
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


def test_every_layer_has_its_rules() -> None:
    """A new package gets a row in both tables, so none escapes the rule by being unlisted."""
    layers = {layer_of(module) for module in MODULES}
    assert layers <= set(ALLOWED), sorted(layers - set(ALLOWED))
    assert layers <= set(FORBIDDEN), sorted(layers - set(FORBIDDEN))


def test_no_figure_goes_through_pyplot() -> None:
    """Figures are drawn on canvas.new_figure: pyplot's global state and backend choice never
    enter a worker or a server."""
    wrong = [
        f"{module} imports {name}"
        for module in sorted(MODULES)
        for name in sorted(_imports(MODULES[module]))
        if name == "matplotlib.pyplot"
    ]
    wrong += [f"{module} calls matplotlib.use" for module in sorted(MODULES) if _uses(module)]
    assert not wrong, "\n".join(wrong)


def _uses(module: str) -> bool:
    """Whether the module calls matplotlib.use (a backend chosen for the whole process)."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "use"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "matplotlib"
        for node in ast.walk(ast.parse(MODULES[module].read_text()))
    )


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

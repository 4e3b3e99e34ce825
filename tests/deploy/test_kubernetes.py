"""`optuna-run render k8s`: the manifests against the Kubernetes JSON schemas (strict, the
schemas kubernetes-validate ships; offline), a wrong field failing them, the worker command
equal to the Slurm worker's, names, labels, resources, and no store URI in any file."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import SchemaNotFoundError, ValidationError, validate

from fashion_models.deploy.commands import (
    create_command,
    finish_command,
    worker_command,
)
from fashion_models.deploy.kubernetes_names import MAX_NAME, resource_name
from tests.deploy.rendering import (
    PLANTED,
    REPO,
    SECRET_STORAGE,
    render,
    server_project,
    slurm_jobs,
)
from tests.helpers import CLI, cli_env, tree

# The oldest version whose API has every field the Jobs use (backoffLimitPerIndex and
# podFailurePolicy's FailIndex: beta and on by default since 1.29), and the newest shipped.
VERSIONS = ["1.30.0", "1.37.0"]
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
DONE_WHEN = [
    *("render", "k8s", "experiments/cnn.yaml", "--workers", "4"),
    *("--image", "fashion-models:0.2", "--gpus-per-worker", "1", "--with-services"),
]
LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def _containers(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}


@pytest.fixture(scope="module")
def done_when(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's command, run as a user runs it: `optuna-run` in the project directory."""
    out = tmp_path_factory.mktemp("k8s") / "manifests"
    proc = subprocess.run(
        [*CLI, *DONE_WHEN, "--out", str(out)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def plain() -> list[dict[str, Any]]:
    """A render to stdout without services or GPUs (the stream of every file)."""
    result = render(
        "k8s", str(REPO / "experiments" / "quickstart.yaml"), "--project-dir", str(REPO),
        "--workers", "2", "--cpus-per-worker", "3", "--image", "registry.example/fm:1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return _documents(result.stdout)


def test_the_done_when_render_writes_one_file_per_step(done_when: Path) -> None:
    assert tree(done_when) == [
        "00-services.yaml", "10-create.yaml", "20-workers.yaml", "30-finish.yaml",
    ]  # fmt: skip
    for path in done_when.iterdir():
        assert path.read_text().startswith("# Study 'cnn-search' (experiments/cnn.yaml)")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_done_when_manifests_pass_the_strict_schemas(done_when: Path, version: str) -> None:
    kinds = []
    for path in sorted(done_when.iterdir()):
        for doc in _documents(path.read_text()):
            validate(doc, version, strict=True)  # raises on a wrong field or an unknown kind
            kinds.append(doc["kind"])
    assert sorted(kinds) == sorted(
        ["ConfigMap", "Service", "StatefulSet", "PersistentVolumeClaim", "Deployment", "Service",
         "Job", "Job", "Job"]
    )  # fmt: skip


def test_the_validator_command_accepts_the_done_when_files(done_when: Path) -> None:
    files = sorted(str(p) for p in done_when.iterdir())
    run = subprocess.run(
        [str(VALIDATE), "--strict", *(f"-k={v}" for v in VERSIONS), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARN" not in run.stdout and "ERROR" not in run.stdout  # no kind left unchecked
    assert run.stdout.count("INFO") == 9 * len(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_plain_manifests_pass_the_strict_schemas(
    plain: list[dict[str, Any]], version: str
) -> None:
    assert sorted(_by_name(plain)) == [
        "Job/quickstart-create", "Job/quickstart-finish", "Job/quickstart-workers",
    ]  # fmt: skip
    for doc in plain:
        validate(doc, version, strict=True)


def _misspell(doc: dict[str, Any], path: list[str | int], wrong: str) -> None:
    *parents, key = path
    node: Any = doc
    for part in parents:
        node = node[part]
    node[wrong] = node.pop(key)


@pytest.mark.parametrize(
    ("path", "wrong"),
    [
        (["spec", "completionMode"], "completionMod"),
        (["spec", "backoffLimitPerIndex"], "backoffLimitPerIdx"),
        (["spec", "template", "spec", "containers", 0, "command"], "comand"),
        (["spec", "template", "spec", "containers", 0, "resources", "limits"], "limit"),
    ],
)
def test_a_misspelled_field_fails_the_validator(
    done_when: Path, path: list[str | int], wrong: str
) -> None:
    (job,) = _documents((done_when / "20-workers.yaml").read_text())
    validate(job, VERSIONS[0], strict=True)
    _misspell(job, path, wrong)
    with pytest.raises(ValidationError, match=re.escape(wrong)):
        validate(job, VERSIONS[0], strict=True)


def test_a_wrong_type_or_kind_fails_the_validator(done_when: Path) -> None:
    (job,) = _documents((done_when / "20-workers.yaml").read_text())
    job["spec"]["parallelism"] = "four"
    with pytest.raises(ValidationError):
        validate(job, VERSIONS[0], strict=True)
    job["spec"]["parallelism"], job["kind"] = 4, "Jobb"
    with pytest.raises(SchemaNotFoundError):
        validate(job, VERSIONS[0], strict=True)


def test_the_worker_runs_exactly_the_slurm_workers_command(done_when: Path) -> None:
    """The worker container's command is deploy.commands' worker command, and the one the
    Slurm worker task execs, but for where each finds optuna-run (the image's PATH; the
    rendering environment's, by absolute path)."""
    docs = [d for p in sorted(done_when.iterdir()) for d in _documents(p.read_text())]
    jobs = _by_name(docs)
    study = "experiments/cnn.yaml"
    worker = _containers(jobs["Job/cnn-search-workers"])["worker"]["command"]
    assert worker == worker_command(study) == ["optuna-run", "run", "--no-finish", study]
    assert _containers(jobs["Job/cnn-search-create"])["create"]["command"] == create_command(study)
    assert _containers(jobs["Job/cnn-search-finish"])["finish"]["command"] == finish_command(study)
    script = render(
        "slurm", str(REPO / study), "--project-dir", str(REPO), "--workers", "4",
        "--gpus-per-worker", "1", "--stores-from-env",
    )  # fmt: skip
    assert script.exit_code == 0, script.output
    slurm = slurm_jobs(script.stdout)
    program = slurm["workers"].argv()[0]
    assert Path(program).is_absolute() and Path(program).name == worker[0]
    assert slurm["workers"].argv() == [program, *worker[1:]]
    assert slurm["create"].argv() == [program, *create_command(study)[1:]]
    assert slurm["finish"].argv() == [program, *finish_command(study)[1:]]


def test_workers_wait_for_the_study_and_finish_for_the_trials(done_when: Path) -> None:
    docs = _documents((done_when / "20-workers.yaml").read_text())
    docs += _documents((done_when / "30-finish.yaml").read_text())
    jobs = _by_name(docs)
    worker_job = jobs["Job/cnn-search-workers"]["spec"]
    assert worker_job["completionMode"] == "Indexed"
    assert worker_job["completions"] == worker_job["parallelism"] == 4
    assert worker_job["backoffLimitPerIndex"] >= 1 and worker_job["maxFailedIndexes"] == 2
    wait = _containers(jobs["Job/cnn-search-workers"])["wait-for-study"]["command"]
    assert wait[:2] == ["sh", "-c"]
    assert "until optuna-run status --json experiments/cnn.yaml" in wait[2]
    wait = _containers(jobs["Job/cnn-search-finish"])["wait-for-trials"]["command"]
    assert "until optuna-run status --json experiments/cnn.yaml | python3 -c" in wait[2]


def test_the_finish_wait_reads_status_json_as_optuna_run_prints_it(done_when: Path) -> None:
    """The poll's check, run on `status --json` shaped output: not done, then done."""
    (job,) = _documents((done_when / "30-finish.yaml").read_text())
    script = _containers(job)["wait-for-trials"]["command"][2]
    check = script.split("| python3 -c ", 1)[1].split("; do sleep", 1)[0]
    argv = [sys.executable, "-c", *shlex.split(check)]
    for counts, done in (
        ({"COMPLETE": 2, "PRUNED": 1, "FAIL": 5, "RUNNING": 1}, False),
        ({"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}, True),
    ):
        status = json.dumps({"study": "cnn-search", "n_trials": 4, "counts": counts})
        run = subprocess.run(argv, input=status, capture_output=True, text=True, timeout=30)
        assert (run.returncode == 0) is done, run.stderr


def test_resources_threads_and_gpus(done_when: Path, plain: list[dict[str, Any]]) -> None:
    jobs = _by_name(_documents((done_when / "20-workers.yaml").read_text()))
    worker = _containers(jobs["Job/cnn-search-workers"])["worker"]
    assert worker["resources"]["limits"] == {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"}
    pod = jobs["Job/cnn-search-workers"]["spec"]["template"]["spec"]
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    worker = _containers(_by_name(plain)["Job/quickstart-workers"])["worker"]
    assert worker["resources"]["requests"] == worker["resources"]["limits"] == {
        "cpu": "3", "memory": "4Gi",
    }  # fmt: skip
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "3"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"
    # quickstart has `final:`: its finish Job retrains with a worker's resources.
    finish = _containers(_by_name(plain)["Job/quickstart-finish"])["finish"]
    assert finish["resources"]["limits"] == {"cpu": "3", "memory": "4Gi"}


def test_every_container_reads_the_stores_from_the_secret_and_no_uri_is_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "manifests"
    result = render(
        "k8s", str(REPO / "experiments" / "cnn.yaml"), "--project-dir", str(REPO),
        "--workers", "2", "--image", "fm:1", "--with-services", "--out", str(out),
        env={"OPTUNA_STORAGE": SECRET_STORAGE, "MLFLOW_TRACKING_URI": f"http://a:{PLANTED}@h"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    texts = [p.read_text() for p in out.iterdir()]
    for text in [*texts, result.output]:
        assert PLANTED not in text and "sqlite" not in text
    for doc in (d for text in texts for d in _documents(text)):
        if doc["kind"] != "Job":
            continue
        for container in _containers(doc).values():
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"][:2]}
            assert refs == {
                var: {"name": "cnn-search-stores", "key": var}
                for var in ("OPTUNA_STORAGE", "MLFLOW_TRACKING_URI")
            }
    # The services' passwords come from a Secret too; the header shows how to make both.
    services = _by_name(_documents((out / "00-services.yaml").read_text()))
    postgres = services["StatefulSet/cnn-search-postgres"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in postgres["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "cnn-search-postgres"
    mlflow = services["Deployment/cnn-search-mlflow"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in mlflow["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == (
        "postgresql+psycopg://fashion:$(POSTGRES_PASSWORD)@cnn-search-postgres:5432/mlflow"
    )
    assert "--artifacts-destination" in mlflow["command"]
    for secret in ("cnn-search-postgres", "cnn-search-stores"):
        for text in texts:
            assert re.search(rf"^#\s+kubectl create secret generic {secret} ", text, re.M)


def test_postgresql_allows_the_connections_the_workers_need(tmp_path: Path) -> None:
    # Each worker holds up to 3 connections; past about 10 workers PostgreSQL's default of
    # 100 would refuse some ("too many clients", optuna#1347).
    allowed = {}
    for workers in (4, 200):
        out = tmp_path / str(workers)
        result = render(
            "k8s", str(REPO / "experiments" / "cnn.yaml"), "--project-dir", str(REPO),
            "--workers", str(workers), "--image", "fm:1", "--with-services", "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        services = _by_name(_documents((out / "00-services.yaml").read_text()))
        pod = services["StatefulSet/cnn-search-postgres"]["spec"]["template"]["spec"]
        flag, setting = pod["containers"][0]["args"]
        assert flag == "-c" and setting.startswith("max_connections=")
        allowed[workers] = int(setting.split("=")[1])
    assert allowed[4] == 100  # the default, enough for a few workers and the MLflow server
    assert allowed[200] >= 3 * 200 + 60


def test_labels_are_consistent_and_selectors_match(done_when: Path) -> None:
    docs = [d for p in sorted(done_when.iterdir()) for d in _documents(p.read_text())]
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert [labels[k] for k in LABELS[:2]] == ["fashion-models", "cnn-search"]
        spec = doc.get("spec", {})
        selector = spec.get("selector", {})
        selector = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", labels)
        assert selector.items() <= pod_labels.items(), doc["metadata"]["name"]


@pytest.mark.parametrize(
    ("study", "name"),
    [
        ("cnn-search", "cnn-search"),
        ("cnn_search", "cnn-search-"),
        ("CNN Search!", "cnn-search-"),
        ("2024-sweep", "study-2024-sweep-"),
        ("___", "study-"),
        ("a" * 80, "a" * (MAX_NAME - 7) + "-"),
    ],
)
def test_names_are_dns_labels_derived_from_the_study_name(study: str, name: str) -> None:
    made = resource_name(study)
    assert re.fullmatch(r"[a-z]([a-z0-9-]*[a-z0-9])?", made) and len(made) <= MAX_NAME
    assert made == name if not name.endswith("-") else made.startswith(name)
    assert resource_name(study) == made  # stable
    assert made != resource_name(study + "_")  # two studies never share objects


def test_a_study_file_outside_the_project_dir_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    result = render(
        "k8s", str(REPO / "experiments" / "cnn.yaml"), "--project-dir", str(tmp_path),
        "--workers", "2", "--image", "fm:1", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {REPO / 'experiments' / 'cnn.yaml'}: expected a file under the project "
        f"directory {tmp_path} (--project-dir), which the image holds as its WORKDIR\n"
    )
    assert not out.exists()


def test_a_search_space_outside_the_project_dir_exits_2(tmp_path: Path) -> None:
    """The image holds the project directory: a space beside it would be missing there."""
    study = server_project(tmp_path / "project")
    (tmp_path / "project" / "spaces" / "small.yaml").rename(tmp_path / "small.yaml")
    study.write_text(study.read_text().replace("spaces/small.yaml", "../small.yaml"))
    result = render(
        "k8s", str(study), "--project-dir", str(study.parent), "--workers", "2", "--image", "fm:1"
    )
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'small.yaml'}: expected a file under the project" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--image", "fm 1", "--image: expected an image reference"),
        ("--memory-per-worker", "4 GB", "--memory-per-worker: expected a Kubernetes quantity"),
        ("--tls-secret", "Worker_TLS", "--tls-secret: expected the name of a Secret"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    out = tmp_path / "manifests"
    args = ["--workers", "2", "--image", "fm:1", "--out", str(out), option, value]
    result = render(
        "k8s", str(REPO / "experiments" / "cnn.yaml"), "--project-dir", str(REPO), *args
    )
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_with_shop_adds_the_service_with_probes_on_readyz_and_livez(version: str) -> None:
    result = render(
        "k8s", str(REPO / "experiments" / "quickstart.yaml"), "--project-dir", str(REPO),
        "--workers", "2", "--image", "registry.example/fm:1", "--with-shop",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = _by_name(_documents(result.stdout))
    for doc in docs.values():
        validate(doc, version, strict=True)
    deployment = docs["Deployment/quickstart-shop"]
    [shop] = deployment["spec"]["template"]["spec"]["containers"]
    assert shop["command"][:4] == ["optuna-run", "serve", "--catalog", "/stock/stock.csv"]
    assert shop["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}
    assert shop["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 8000}
    assert shop["env"][:1] == [
        {"name": "MLFLOW_TRACKING_URI",
         "valueFrom": {"secretKeyRef": {"name": "quickstart-stores", "key": "MLFLOW_TRACKING_URI"}}}
    ]  # fmt: skip
    service = docs["Service/quickstart-shop"]
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert "PersistentVolumeClaim/quickstart-stock" in docs
    assert "fill the volume quickstart-stock with stock.csv" in result.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_credentials_are_secret_references_and_the_tls_secret_is_mounted(version: str) -> None:
    # Every container of every Job (and the shop) reads the passwords and the proxy token
    # from optional keys of <study>-credentials; --tls-secret mounts the CA and the client
    # certificate read-only and points the proxy's and libpq's variables at them.
    result = render(
        "k8s", str(REPO / "experiments" / "quickstart.yaml"), "--project-dir", str(REPO),
        "--workers", "2", "--image", "fm:1", "--with-shop", "--tls-secret", "worker-tls",
        env={"OPTUNA_PROXY_TOKEN": PLANTED, "MLFLOW_TRACKING_PASSWORD": PLANTED,
             "PGPASSWORD": PLANTED},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert PLANTED not in result.output
    docs = _documents(result.stdout)
    for doc in docs:
        validate(doc, version, strict=True)
    jobs = [d for d in docs if d["kind"] == "Job"]
    assert len(jobs) == 3
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"] == {"fsGroup": 10001}
        assert pod["volumes"] == [
            {"name": "tls", "secret": {"secretName": "worker-tls", "defaultMode": 0o440}}
        ]
        for container in _containers(job).values():
            env = {e["name"]: e for e in container["env"]}
            for var, key in (
                ("PGPASSWORD", "pg-password"),
                ("MLFLOW_TRACKING_USERNAME", "mlflow-username"),
                ("MLFLOW_TRACKING_PASSWORD", "mlflow-password"),
                ("OPTUNA_PROXY_TOKEN", "proxy-token"),
            ):
                assert env[var]["valueFrom"]["secretKeyRef"] == {
                    "name": "quickstart-credentials", "key": key, "optional": True,
                }  # fmt: skip
            assert env["OPTUNA_PROXY_CA_FILE"]["value"] == "/etc/fashion-models/tls/ca.crt"
            assert env["OPTUNA_PROXY_CLIENT_CERT_FILE"]["value"].endswith("/tls.crt")
            assert env["OPTUNA_PROXY_CLIENT_KEY_FILE"]["value"].endswith("/tls.key")
            assert env["PGSSLROOTCERT"]["value"] == "/etc/fashion-models/tls/ca.crt"
            assert container["volumeMounts"] == [
                {"name": "tls", "mountPath": "/etc/fashion-models/tls", "readOnly": True}
            ]
    shop = _by_name(docs)["Deployment/quickstart-shop"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in shop["containers"][0]["env"]}
    assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "kubectl create secret generic quickstart-credentials" in result.stdout

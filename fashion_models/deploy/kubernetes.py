"""Plain Kubernetes manifests for a study: a creator Job, an Indexed Job of N workers and a
finish Job, reading the store URIs from a Secret (`--with-services` adds PostgreSQL and an
MLflow server: kubernetes_services.py; `--with-shop` the shop's service: kubernetes_shop.py).

Kubernetes Jobs have no dependencies, so each pod waits for what it needs (an initContainer
polling `optuna-run status`): a worker for the study to exist, the finish Job for the study
to hold n_trials. `kubectl apply -f DIR/` once starts everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from fashion_models.deploy.commands import (
    create_command,
    finish_command,
    thread_environment,
    wait_for_study_command,
    wait_for_trials_command,
    worker_command,
)
from fashion_models.deploy.kubernetes_credentials import (
    add_tls_volume,
    credential_env,
    credentials_header_lines,
)
from fashion_models.deploy.kubernetes_names import APP, labels, resource_name
from fashion_models.deploy.kubernetes_services import services, services_secret_lines
from fashion_models.deploy.kubernetes_shop import shop, shop_header_lines
from fashion_models.deploy.plan import Plan, RenderError
from fashion_models.deploy.stores import STORAGE_VAR, TRACKING_VAR

RETRIES_PER_WORKER = 3  # a worker pod that fails (OOM, node lost) is started again this often
BAD_INPUT = 2  # optuna-run's exit code for bad input: starting it again cannot help

Manifest = dict[str, Any]
QUANTITY = re.compile(r"\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
SECRET_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?")  # a DNS subdomain


@dataclass(frozen=True)
class KubernetesOptions:
    image: str  # built from the project's Dockerfile: optuna-run on PATH, WORKDIR the project
    memory_per_worker: str = "4Gi"  # request = limit, per worker (and finish) pod
    with_services: bool = False  # also render PostgreSQL and an MLflow server
    with_shop: bool = False  # also render the shop's service (optuna-run serve)
    tls_secret: str | None = None  # a kubernetes.io/tls Secret with ca.crt to mount


@dataclass(frozen=True)
class Manifests:
    """Rendered manifests: file name -> its documents, in the order to apply them; the same
    comment heads every file."""

    header: list[str]
    files: dict[str, list[Manifest]]

    def file_text(self, name: str) -> str:
        return self._text(self.files[name])

    def stream(self) -> str:
        """Every file's documents as one multi-document YAML."""
        return self._text([doc for docs in self.files.values() for doc in docs])

    def _text(self, docs: list[Manifest]) -> str:
        head = "".join(f"# {line}".rstrip() + "\n" for line in self.header)
        body = "---\n".join(
            yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)
            for doc in docs
        )
        return f"{head}---\n{body}"


def render_kubernetes(plan: Plan, options: KubernetesOptions, rendered_by: str) -> Manifests:
    """The manifests, by file; raises RenderError before anything is rendered."""
    if not IMAGE.fullmatch(options.image):
        raise RenderError(
            f"--image: expected an image reference such as fashion-models:0.2, found "
            f"{options.image!r}"
        )
    if not QUANTITY.fullmatch(options.memory_per_worker):
        raise RenderError(
            f"--memory-per-worker: expected a Kubernetes quantity such as 4Gi, found "
            f"{options.memory_per_worker!r}"
        )
    if options.tls_secret is not None and not SECRET_NAME.fullmatch(options.tls_secret):
        raise RenderError(
            "--tls-secret: expected the name of a Secret (lower case letters, digits, - and ., "
            f"at most 253), found {options.tls_secret!r}"
        )
    study = plan.relative_study_file()
    files = (plan.study_file, plan.search_space_file)
    outside = [path for path in files if not path.is_relative_to(plan.project_dir)]
    if study is None or outside:
        raise RenderError(
            f"{outside[0]}: expected a file under the project directory {plan.project_dir} "
            "(--project-dir), which the image holds as its WORKDIR"
        )
    name = resource_name(plan.study_name)
    docs = {}
    if options.with_services:
        docs["00-services.yaml"] = services(name, options.image, plan.workers)
    docs["10-create.yaml"] = [_create_job(plan, options, study, name)]
    docs["20-workers.yaml"] = [_worker_job(plan, options, study, name)]
    docs["30-finish.yaml"] = [_finish_job(plan, options, study, name)]
    if options.with_shop:
        docs["40-shop.yaml"] = shop(name, options.image)
    return Manifests(_header(plan, options, study, name, rendered_by), docs)


def _create_job(plan: Plan, options: KubernetesOptions, study: str, name: str) -> Manifest:
    create = _container("create", create_command(study), options, name, 1, "2Gi")
    pod = {"containers": [create]}
    # Backoff (10 s, 20 s, ... 6 tries) rides out stores that are still starting.
    spec = {"backoffLimit": 6, **_no_retry_on_bad_input("create")}
    return _job(plan, name, "create", pod, spec, options.tls_secret)


def _worker_job(plan: Plan, options: KubernetesOptions, study: str, name: str) -> Manifest:
    cpus, memory = plan.cpus_per_worker, options.memory_per_worker
    wait = _container(
        "wait-for-study", wait_for_study_command(study), options, name, 1, memory, trains=False
    )
    worker = _container("worker", worker_command(study), options, name, cpus, memory)
    _add_gpus(worker, plan.gpus_per_worker)
    pod = {"initContainers": [wait], "containers": [worker], **_gpu_tolerations(plan)}
    spec = {
        "completionMode": "Indexed",
        "completions": plan.workers,
        "parallelism": plan.workers,
        "backoffLimitPerIndex": RETRIES_PER_WORKER,
        # Workers are interchangeable: a study goes on without a few, but when more than half
        # have failed for good the cause is likely the study or its stores: stop the rest.
        "maxFailedIndexes": plan.workers // 2,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailIndex",
                    "onExitCodes": {
                        "containerName": "worker",
                        "operator": "In",
                        "values": [BAD_INPUT],
                    },
                },
                # A pod evicted or preempted did nothing wrong: its start again costs no retry.
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        },
    }
    return _job(plan, name, "workers", pod, spec, options.tls_secret)


def _finish_job(plan: Plan, options: KubernetesOptions, study: str, name: str) -> Manifest:
    cpus, memory = (plan.cpus_per_worker, options.memory_per_worker)
    if not plan.final_retrain:  # figures and registration only
        cpus, memory = 1, "2Gi"
    wait = _container(
        "wait-for-trials", wait_for_trials_command(study), options, name, 1, memory, trains=False
    )
    finish = _container("finish", finish_command(study), options, name, cpus, memory)
    pod: dict[str, Any] = {"initContainers": [wait], "containers": [finish]}
    if plan.final_retrain:
        _add_gpus(finish, plan.gpus_per_worker)
        pod.update(_gpu_tolerations(plan))
    spec = {"backoffLimit": 3, **_no_retry_on_bad_input("finish")}
    return _job(plan, name, "finish", pod, spec, options.tls_secret)


def _job(
    plan: Plan,
    name: str,
    component: str,
    pod: dict[str, Any],
    spec: dict[str, Any],
    tls_secret: str | None,
) -> Manifest:
    add_tls_volume(pod, tls_secret)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name}-{component}",
            "labels": labels(name, component),
            "annotations": {f"{APP}/study": plan.study_name},
        },
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {"restartPolicy": "Never", **pod},
            },
        },
    }


def _container(
    role: str,
    command: list[str],
    options: KubernetesOptions,
    name: str,
    cpus: int,
    memory: str,
    trains: bool = True,
) -> dict[str, Any]:
    """A container of the image running `command`, with the stores and the credentials from
    Secrets (kubernetes_credentials.py) and, where it trains, TensorFlow's threads sized to
    its CPUs. Requests equal limits: the threads
    never outnumber the CPUs, so the pod is never throttled."""
    stores = [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": f"{name}-stores", "key": var}}}
        for var in (STORAGE_VAR, TRACKING_VAR)
    ]
    env = thread_environment(str(cpus)) if trains else {}
    threads = [{"name": k, "value": v} for k, v in env.items()]
    quota = {"cpu": str(cpus), "memory": memory}
    return {
        "name": role,
        "image": options.image,
        "command": command,
        "env": stores + credential_env(name, options.tls_secret) + threads,
        "resources": {"requests": dict(quota), "limits": dict(quota)},
    }


def _add_gpus(container: dict[str, Any], gpus: int) -> None:
    if gpus:
        container["resources"]["limits"]["nvidia.com/gpu"] = str(gpus)


def _gpu_tolerations(plan: Plan) -> dict[str, Any]:
    """GPU nodes are commonly tainted nvidia.com/gpu so that only GPU pods land there."""
    if not plan.gpus_per_worker:
        return {}
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    return {"tolerations": [toleration]}


def _no_retry_on_bad_input(container: str) -> dict[str, Any]:
    rule = {
        "action": "FailJob",
        "onExitCodes": {"containerName": container, "operator": "In", "values": [BAD_INPUT]},
    }
    return {"podFailurePolicy": {"rules": [rule]}}


def _header(
    plan: Plan, options: KubernetesOptions, study: str, name: str, rendered_by: str
) -> list[str]:
    secret = f"{name}-stores"
    if options.with_services:
        stores = services_secret_lines(name, secret)
    else:
        stores = [
            f"  kubectl create secret generic {secret} \\",
            f"    --from-literal={STORAGE_VAR}='postgresql+psycopg://USER:PASSWORD@HOST:5432/DB'"
            " \\",
            f"    --from-literal={TRACKING_VAR}='http://MLFLOW-HOST:5000'",
        ]
    gpus = f", {plan.gpus_per_worker} GPU(s)" if plan.gpus_per_worker else ""
    return [
        f"Study {plan.study_name!r} ({study}) on Kubernetes, rendered by",
        f"  {rendered_by}",
        f"Image {options.image}: this project's Dockerfile (optuna-run on PATH, WORKDIR the",
        "project, so the commands name the study file relative to it).",
        "",
        f"1. The stores. Every container reads {STORAGE_VAR} and {TRACKING_VAR} from the",
        f"   Secret {secret} (they override the study file's storage: and tracking.uri:).",
        "   These files hold no value of it; create it first, e.g.:",
        *(f"   {line}" for line in stores),
        *credentials_header_lines(name, options.tls_secret),
        "2. kubectl apply -f DIR/   (the files in name order; or this stream at once)",
        "",
        "Order: Kubernetes Jobs have no dependencies, so each pod waits for what it needs:",
        f"  {name}-create   `optuna-run create`: the study, its MLflow run; no trial",
        f"  {name}-workers  an Indexed Job of {plan.workers} pods, one worker each"
        f" ({plan.cpus_per_worker} CPU(s){gpus});",
        "      an initContainer polls `optuna-run status` every 10 s until the study exists,",
        "      so that no worker races to create it",
        f"  {name}-finish   an initContainer polls `optuna-run status --json` every 60 s until",
        "      the study holds n_trials complete or pruned trials (when the workers stop), then",
        "      `optuna-run finish`: figures, final retrain, registration and promotion, once",
        f"If the workers fail for good first (kubectl get job {name}-workers: Failed), the",
        f"finish Job keeps waiting: fix the cause, delete job {name}-workers and apply it again.",
        *(["", *shop_header_lines(name)] if options.with_shop else []),
    ]

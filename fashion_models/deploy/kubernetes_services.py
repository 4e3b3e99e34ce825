"""`render k8s --with-services`: the stores beside the study, for a cluster that has none.

PostgreSQL (a StatefulSet with a volume claim, behind a headless Service) holds two databases,
`optuna` (the study) and `mlflow` (MLflow's backend store): Optuna and MLflow both keep an
`alembic_version` table, so they cannot share one. The MLflow server runs from the study's own
image (same MLflow, with psycopg) and keeps artifacts on a volume, serving them to the workers
(`--artifacts-destination`), so that no pod needs a shared filesystem. Passwords come from a
Secret that the user creates: none is ever written into a manifest.
"""

from __future__ import annotations

from typing import Any

from fashion_models.deploy.kubernetes_names import labels, selector

POSTGRES_IMAGE = "postgres:16"
DB_USER = "fashion"
IMAGE_UID = 10001  # the Dockerfile's user: the artifact volume is made writable for it
MLFLOW_PORT, POSTGRES_PORT = 5000, 5432
# Connections PostgreSQL must allow besides the workers': the MLflow server's 4 processes
# (SQLAlchemy's pool of 5 plus 10 overflow each), the creator and finish Jobs, and the
# superuser slots.
CONNECTIONS_PER_WORKER = 3  # queries, heartbeat thread, claim lock (README "Storages")
OTHER_CONNECTIONS = 4 * 15 + 2 * CONNECTIONS_PER_WORKER + 3


def max_connections(workers: int) -> int:
    """PostgreSQL's `max_connections` for `workers` workers (never below its default 100)."""
    return max(100, CONNECTIONS_PER_WORKER * workers + OTHER_CONNECTIONS)


def services(name: str, image: str, workers: int) -> list[dict[str, Any]]:
    """The PostgreSQL and MLflow manifests of study resource name `name`."""
    return [
        _init_sql(name),
        _postgres_service(name),
        _postgres(name, workers),
        _artifacts_claim(name),
        _mlflow(name, image),
        _mlflow_service(name),
    ]


def services_secret_lines(name: str, stores_secret: str) -> list[str]:
    """How to create the two Secrets (commented in the manifests): a random password for
    PostgreSQL, and the store URIs built from it."""
    return [
        f"  kubectl create secret generic {name}-postgres \\",
        '    --from-literal=password="$(openssl rand -hex 24)"   # URL-safe: it goes in URIs',
        f"  password=$(kubectl get secret {name}-postgres -o jsonpath='{{.data.password}}'"
        " | base64 -d)",
        f"  kubectl create secret generic {stores_secret} \\",
        f'    --from-literal=OPTUNA_STORAGE="postgresql+psycopg://{DB_USER}:$password@'
        f'{name}-postgres:{POSTGRES_PORT}/optuna" \\',
        f"    --from-literal=MLFLOW_TRACKING_URI=http://{name}-mlflow:{MLFLOW_PORT}",
    ]


def _password_env(name: str) -> dict[str, Any]:
    ref = {"name": f"{name}-postgres", "key": "password"}
    return {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": ref}}


def _meta(name: str, component: str) -> dict[str, Any]:
    return {"name": f"{name}-{component}", "labels": labels(name, component)}


def _init_sql(name: str) -> dict[str, Any]:
    # Run by the postgres image once, on an empty data directory.
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, "postgres-init"),
        "data": {"10-mlflow-database.sql": "CREATE DATABASE mlflow;"},
    }


def _postgres_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, "postgres"),
        "spec": {
            "clusterIP": "None",  # headless: the StatefulSet's pod, by a stable name
            "selector": selector(name, "postgres"),
            "ports": [{"name": "postgres", "port": POSTGRES_PORT}],
        },
    }


def _postgres(name: str, workers: int) -> dict[str, Any]:
    container = {
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        # The image's entrypoint hands arguments that start with "-" to postgres.
        "args": ["-c", f"max_connections={max_connections(workers)}"],
        "env": [
            {"name": "POSTGRES_USER", "value": DB_USER},
            {"name": "POSTGRES_DB", "value": "optuna"},
            _password_env(name),
            # A subdirectory: the volume's root may hold lost+found, which initdb refuses.
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-U", DB_USER, "-d", "optuna"]},
            "periodSeconds": 5,
        },
        "resources": _quota("1", "1Gi"),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "init", "mountPath": "/docker-entrypoint-initdb.d"},
        ],
    }
    init = {"name": "init", "configMap": {"name": f"{name}-postgres-init"}}
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, "postgres"),
        "spec": {
            "serviceName": f"{name}-postgres",
            "replicas": 1,
            "selector": {"matchLabels": selector(name, "postgres")},
            "template": {
                "metadata": {"labels": labels(name, "postgres")},
                "spec": {"containers": [container], "volumes": [init]},
            },
            "volumeClaimTemplates": [claim],
        },
    }


def _artifacts_claim(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, "mlflow-artifacts"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
    }


def _mlflow(name: str, image: str) -> dict[str, Any]:
    host = f"{name}-mlflow"
    # MLflow answers only the Host names it allows (DNS-rebinding guard): the Service's names,
    # and localhost for `kubectl port-forward`.
    allowed = f"{host},{host}:*,{host}.*,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
    backend = f"postgresql+psycopg://{DB_USER}:$(POSTGRES_PASSWORD)@{name}-postgres:5432/mlflow"
    server = {
        "name": "mlflow",
        "image": image,
        "command": [
            "mlflow",
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            str(MLFLOW_PORT),
            "--artifacts-destination",
            "/mlartifacts",
            "--allowed-hosts",
            allowed,
        ],  # fmt: skip
        "env": [
            _password_env(name),
            # = --backend-store-uri; Kubernetes fills $(POSTGRES_PASSWORD) in from the
            # Secret, so the password is in no manifest and in no process's arguments.
            {"name": "MLFLOW_BACKEND_STORE_URI", "value": backend},
        ],
        "ports": [{"name": "http", "containerPort": MLFLOW_PORT}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": MLFLOW_PORT}},
        "resources": _quota("1", "2Gi"),
        "volumeMounts": [{"name": "artifacts", "mountPath": "/mlartifacts"}],
    }
    wait = {
        "name": "wait-for-postgres",
        "image": POSTGRES_IMAGE,
        "command": [
            "sh",
            "-c",
            f"until pg_isready -h {name}-postgres -U {DB_USER}; do sleep 2; done",
        ],
        "resources": _quota("100m", "64Mi"),
    }
    volume = {"name": "artifacts", "persistentVolumeClaim": {"claimName": f"{host}-artifacts"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, "mlflow"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # the artifact volume mounts on one node at a time
            "selector": {"matchLabels": selector(name, "mlflow")},
            "template": {
                "metadata": {"labels": labels(name, "mlflow")},
                "spec": {
                    "securityContext": {"fsGroup": IMAGE_UID},
                    "initContainers": [wait],
                    "containers": [server],
                    "volumes": [volume],
                },
            },
        },
    }


def _mlflow_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, "mlflow"),
        "spec": {
            "selector": selector(name, "mlflow"),
            "ports": [{"name": "http", "port": MLFLOW_PORT, "targetPort": MLFLOW_PORT}],
        },
    }


def _quota(cpu: str, memory: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}

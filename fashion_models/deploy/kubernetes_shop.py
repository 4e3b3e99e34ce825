"""`render k8s --with-shop`: the shop's service (`optuna-run serve`) beside the study, serving
the model the study registers. A Deployment whose pods are ready only while a model and the
catalog it embedded are loaded (/readyz) and restarted if the process stops answering (/livez),
a Service in front, and a volume claim for the stock (the CSV and its photos), which the shop
fills. The tracking URI comes from the study's stores Secret, like every other container's.
"""

from __future__ import annotations

from typing import Any

from fashion_models.deploy.kubernetes_credentials import credential_env
from fashion_models.deploy.kubernetes_names import labels, selector
from fashion_models.deploy.stores import TRACKING_VAR

SHOP_PORT = 8000
STOCK_DIR = "/stock"
STOCK_FILE = f"{STOCK_DIR}/stock.csv"
SHOP_CPUS = "2"  # TensorFlow's threads on a forward pass; concurrent photos share passes
SHOP_MEMORY = "2Gi"


def shop(name: str, image: str) -> list[dict[str, Any]]:
    """The shop's manifests of study resource name `name`."""
    return [_stock_claim(name), _deployment(name, image), _service(name)]


def shop_header_lines(name: str) -> list[str]:
    return [
        f"The shop's service ({name}-shop): fill the volume {name}-stock with stock.csv",
        "(sku,name,photo,quantity; photos relative to it) and the photos; it serves the",
        f"model the study registers (its alias) on the Service {name}-shop:{SHOP_PORT}, and is",
        "ready (/readyz) once it has loaded the model and embedded the stock with it.",
    ]


def _meta(name: str, component: str) -> dict[str, Any]:
    return {"name": f"{name}-{component}", "labels": labels(name, component)}


def _stock_claim(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, "stock"),
        "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "5Gi"}}},
    }


def _deployment(name: str, image: str) -> dict[str, Any]:
    quota = {"cpu": SHOP_CPUS, "memory": SHOP_MEMORY}
    tracking = {
        "name": TRACKING_VAR,
        "valueFrom": {"secretKeyRef": {"name": f"{name}-stores", "key": TRACKING_VAR}},
    }
    container = {
        "name": "shop",
        "image": image,
        "command": [
            "optuna-run",
            "serve",
            "--catalog",
            STOCK_FILE,
            "--host",
            "0.0.0.0",
            "--port",
            str(SHOP_PORT),
            "--workers",
            "1",
        ],  # fmt: skip
        "env": [tracking, *credential_env(name, None)],  # MLflow's user, if it has one
        "ports": [{"name": "http", "containerPort": SHOP_PORT}],
        # Alive at once; ready only with a model and the catalog that same version embedded.
        "livenessProbe": {
            "httpGet": {"path": "/livez", "port": SHOP_PORT},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": SHOP_PORT},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "resources": {"requests": dict(quota), "limits": dict(quota)},
        "volumeMounts": [{"name": "stock", "mountPath": STOCK_DIR, "readOnly": True}],
    }
    volume = {"name": "stock", "persistentVolumeClaim": {"claimName": f"{name}-stock"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, "shop"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": selector(name, "shop")},
            "template": {
                "metadata": {"labels": labels(name, "shop")},
                "spec": {"containers": [container], "volumes": [volume]},
            },
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, "shop"),
        "spec": {
            "selector": selector(name, "shop"),
            "ports": [{"name": "http", "port": SHOP_PORT, "targetPort": SHOP_PORT}],
        },
    }

"""The credentials of a study's pods, as Kubernetes hands them over: never a value in the
manifests, only references.

- Passwords and tokens: environment variables from keys of the Secret `<study>-credentials`,
  each optional (a deployment without a proxy token simply has no `proxy-token` key):
  PGPASSWORD (libpq's own), MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (MLflow's
  own), OPTUNA_PROXY_TOKEN (the storage proxy's bearer token).
- TLS material (`--tls-secret NAME`): a Secret of type kubernetes.io/tls holding `tls.crt`,
  `tls.key` and `ca.crt` (what cert-manager issues), mounted read-only; the worker's client
  certificate for the proxy (mTLS) and the CA that signed the proxy's and PostgreSQL's
  certificates (libpq verifies the database with sslmode=verify-full).
"""

from __future__ import annotations

from typing import Any

TLS_DIR = "/etc/fashion-models/tls"
# The image's user (Dockerfile: uid 10001) reads the mounted files through its group.
FS_GROUP = 10001
SECRET_KEYS = {  # environment variable -> key of the <study>-credentials Secret
    "PGPASSWORD": "pg-password",
    "MLFLOW_TRACKING_USERNAME": "mlflow-username",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-password",
    "OPTUNA_PROXY_TOKEN": "proxy-token",
}
TLS_FILES = {  # environment variable -> file of the TLS Secret
    "OPTUNA_PROXY_CA_FILE": "ca.crt",
    "OPTUNA_PROXY_CLIENT_CERT_FILE": "tls.crt",
    "OPTUNA_PROXY_CLIENT_KEY_FILE": "tls.key",
    "PGSSLROOTCERT": "ca.crt",
}


def credentials_secret(name: str) -> str:
    return f"{name}-credentials"


def credential_env(name: str, tls_secret: str | None) -> list[dict[str, Any]]:
    """A container's environment entries for the credentials (after the stores')."""
    secret = credentials_secret(name)
    env: list[dict[str, Any]] = [
        {
            "name": var,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
        }
        for var, key in SECRET_KEYS.items()
    ]
    if tls_secret is not None:
        # The store URL asks for TLS itself (?sslmode=verify-full); the CA is found here.
        env += [{"name": var, "value": f"{TLS_DIR}/{file}"} for var, file in TLS_FILES.items()]
    return env


def add_tls_volume(pod: dict[str, Any], tls_secret: str | None) -> None:
    """Mount the TLS Secret into every container of `pod` (read-only, group-readable)."""
    if tls_secret is None:
        return
    pod["securityContext"] = {"fsGroup": FS_GROUP}
    pod["volumes"] = [
        *pod.get("volumes", []),
        {"name": "tls", "secret": {"secretName": tls_secret, "defaultMode": 0o440}},
    ]
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        mounts = container.setdefault("volumeMounts", [])
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})


def credentials_header_lines(name: str, tls_secret: str | None) -> list[str]:
    """How to create what the manifests reference, with no value in them."""
    secret = credentials_secret(name)
    keys = ", ".join(SECRET_KEYS.values())
    lines = [
        f"   Credentials come from the Secret {secret}, each key optional",
        f"   ({keys}), e.g.:",
        f"     kubectl create secret generic {secret} \\",
        "       --from-literal=mlflow-username=worker --from-file=mlflow-password=./mlflow-pw \\",
        "       --from-file=proxy-token=./proxy-token --from-file=pg-password=./pg-pw",
    ]
    if tls_secret is None:
        return [*lines, "   (--tls-secret NAME mounts the CA and a client certificate as well.)"]
    return [
        *lines,
        f"   TLS: the Secret {tls_secret} (type kubernetes.io/tls, with ca.crt; a cert-manager",
        f"   Certificate makes one) is mounted at {TLS_DIR}: the client",
        "   certificate for the storage proxy (grpcs://) and the CA of the proxy and of",
        "   PostgreSQL (add ?sslmode=verify-full to the storage URL).",
    ]

"""Names and labels of a study's Kubernetes objects, derived from the study name."""

from __future__ import annotations

import hashlib
import re

APP = "fashion-models"
# Room for the longest suffix a name gets (`-mlflow-artifacts`, `-workers-<index>`) within the
# 52 characters a StatefulSet name may have (its pods' revision label adds 11).
MAX_NAME = 40
_SELECTOR_KEYS = ("app.kubernetes.io/instance", "app.kubernetes.io/component")


def resource_name(study_name: str) -> str:
    """The study name as a Kubernetes name: a DNS-1035 label (lower case letters, digits and
    -, a letter first; Services need that much) of at most MAX_NAME characters. A name that had
    to change gets a short hash of the original, so that two studies never share objects."""
    clean = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", study_name.lower())).strip("-")
    if clean and clean[0].isalpha() and clean == study_name and len(clean) <= MAX_NAME:
        return clean
    if not clean[:1].isalpha():
        clean = f"study-{clean}".rstrip("-")
    digest = hashlib.sha256(study_name.encode()).hexdigest()[:6]
    return f"{clean[: MAX_NAME - 7].rstrip('-')}-{digest}"


def labels(name: str, component: str) -> dict[str, str]:
    """The recommended labels: the app, this study (`instance`), the part of it."""
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
    }


def selector(name: str, component: str) -> dict[str, str]:
    return {k: v for k, v in labels(name, component).items() if k in _SELECTOR_KEYS}

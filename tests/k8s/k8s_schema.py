"""Validating rendered core objects against the Kubernetes API schemas, offline and strictly.

The schemas ship in the ``kubernetes-validate`` package; the newest version it carries is used.
Strict mode rejects unknown fields, so a misspelt field fails here rather than being dropped
silently by the API server. Custom resources have no schemas there and are left out.
"""

from __future__ import annotations

import kubernetes_validate
from k8s_manifests import CUSTOM_KINDS, Obj

SCHEMA_VERSION = kubernetes_validate.latest_version()


def core_objects(objects: tuple[Obj, ...]) -> list[Obj]:
    """The objects of Kubernetes' own APIs (not of :data:`CUSTOM_KINDS`)."""
    return [o for o in objects if (o["apiVersion"], o["kind"]) not in CUSTOM_KINDS]


def schema_errors(objects: tuple[Obj, ...]) -> list[str]:
    """One line per core object that does not validate: its kind/name, the field, the error."""
    errors = []
    for obj in core_objects(objects):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: {obj['apiVersion']} has no schema (a custom resource?)")
    return errors

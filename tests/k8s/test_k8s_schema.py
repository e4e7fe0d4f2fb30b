"""Every rendered core object validates against the Kubernetes API schemas, offline and strictly.

The schemas ship in the ``kubernetes-validate`` package; the newest version it carries is used.
Strict mode rejects unknown fields, so a misspelt field fails here rather than being dropped
silently by the API server. The custom resources are checked in test_k8s_custom_resources.py.
"""

from __future__ import annotations

import kubernetes_validate
from k8s_manifests import CUSTOM_KINDS, Obj

SCHEMA_VERSION = kubernetes_validate.latest_version()


def test_schemas_are_recent_enough() -> None:
    major, minor = (int(part) for part in SCHEMA_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 37), f"kubernetes-validate ships schemas up to {SCHEMA_VERSION}"


def test_core_objects_validate(objects: tuple[Obj, ...]) -> None:
    errors = []
    core = [o for o in objects if (o["apiVersion"], o["kind"]) not in CUSTOM_KINDS]
    assert core
    for obj in core:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: {obj['apiVersion']} has no schema (a custom resource?)")
    assert not errors, "\n".join(errors)


def test_validation_rejects_an_unknown_field(objects: tuple[Obj, ...]) -> None:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicaz": 2}}
    try:
        kubernetes_validate.validate(broken, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        return
    raise AssertionError("a Deployment with an unknown field validated; is strict mode on?")

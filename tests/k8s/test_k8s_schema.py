"""Every rendered core object validates against the Kubernetes API schemas, offline and strictly
(k8s_schema.py). The custom resources are checked in test_k8s_custom_resources.py."""

from __future__ import annotations

import kubernetes_validate
from k8s_manifests import Obj
from k8s_schema import SCHEMA_VERSION, core_objects, schema_errors


def test_schemas_are_recent_enough() -> None:
    major, minor = (int(part) for part in SCHEMA_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 37), f"kubernetes-validate ships schemas up to {SCHEMA_VERSION}"


def test_core_objects_validate(objects: tuple[Obj, ...]) -> None:
    assert core_objects(objects)
    errors = schema_errors(objects)
    assert not errors, "\n".join(errors)


def test_validation_rejects_an_unknown_field(objects: tuple[Obj, ...]) -> None:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicaz": 2}}
    try:
        kubernetes_validate.validate(broken, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        return
    raise AssertionError("a Deployment with an unknown field validated; is strict mode on?")

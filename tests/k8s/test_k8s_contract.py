"""The manifests and the image agree with the code: commands, ports, settings and paths.

The catalog (services/common/catalog.py) is the source of the commands and ports; a setting is
"read" when a module under services/ names its ANNEAL_* variable as a string literal.
"""

from __future__ import annotations

import base64
import re
import shlex
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from k8s_manifests import (
    REPO,
    WORKLOAD_KINDS,
    Obj,
    container_env,
    main_container,
    named,
    of_kind,
    service_workloads,
)


def test_commands_are_the_catalog_commands(objects: tuple[Obj, ...], catalog: Any) -> None:
    workloads = service_workloads(objects)
    assert set(workloads) == set(catalog)
    for name, workload in workloads.items():
        assert main_container(workload)["command"] == list(catalog[name].command)


def test_every_command_module_exists(catalog: Any) -> None:
    missing = [
        f"{spec.module} (services/{name}/__main__.py)"
        for name, spec in catalog.items()
        if not (REPO / "services" / name / "__main__.py").is_file()
    ]
    assert not missing, f"container commands run modules that do not exist yet: {missing}"


def test_ports_are_the_catalog_ports(objects: tuple[Obj, ...], catalog: Any) -> None:
    for name, workload in service_workloads(objects).items():
        spec = catalog[name]
        want = {"grpc": spec.grpc_port, "metrics": spec.metrics_port}
        container = main_container(workload)
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == want, name
        env = container_env(container)
        assert env["ANNEAL_PORT"]["value"] == str(spec.grpc_port), name
        assert env["ANNEAL_METRICS_PORT"]["value"] == str(spec.metrics_port), name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == spec.grpc_port, f"{name} {probe}"
        service = named(objects, "Service", name)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == want, name
        assert {p["targetPort"] for p in service["spec"]["ports"]} == set(want), name


def settings_set(objects: tuple[Obj, ...]) -> dict[str, str]:
    """Every ANNEAL_* variable the manifests give a container, with its value where literal."""
    configs = {c["metadata"]["name"]: c.get("data", {}) for c in of_kind(objects, "ConfigMap")}
    secrets = {
        s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for s in of_kind(objects, "Secret")
    }
    found: dict[str, str] = {}
    for workload in objects:
        if workload["kind"] not in WORKLOAD_KINDS:
            continue
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    found.update(configs[source["configMapRef"]["name"]])
                else:
                    found.update(secrets[source["secretRef"]["name"]])
            for name, entry in container_env(container).items():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                found[name] = secrets[ref["name"]][ref["key"]] if ref else entry.get("value", "")
    return {k: v for k, v in found.items() if k.startswith("ANNEAL_")}


@cache
def services_source() -> str:
    return "\n".join(p.read_text() for p in sorted((REPO / "services").rglob("*.py")))


def test_every_setting_is_read_by_a_service(objects: tuple[Obj, ...]) -> None:
    settings = settings_set(objects)
    assert settings
    source = services_source()
    unread = [name for name in settings if f'"{name}"' not in source and f"'{name}'" not in source]
    assert not unread, f"manifests set variables no module under services/ reads: {unread}"


def test_service_addresses_point_at_services(objects: tuple[Obj, ...], catalog: Any) -> None:
    addresses = {k: v for k, v in settings_set(objects).items() if k.endswith("_ADDR")}
    assert addresses
    for variable, value in addresses.items():
        name = variable.removeprefix("ANNEAL_").removesuffix("_ADDR").lower()
        named(objects, "Service", name)
        assert value == f"{name}:{catalog[name].grpc_port}", variable


def mount_of(workload: Obj, path: str) -> Obj:
    """The volume mount that holds ``path`` (the deepest mount above it)."""
    mounts = main_container(workload).get("volumeMounts", [])
    above = [m for m in mounts if PurePosixPath(path).is_relative_to(m["mountPath"])]
    assert above, f"{workload['metadata']['name']}: nothing is mounted above {path}"
    return max(above, key=lambda m: len(m["mountPath"]))


def test_state_lives_on_the_workloads_own_volume(objects: tuple[Obj, ...]) -> None:
    checked = 0
    for name, workload in service_workloads(objects).items():
        env = container_env(main_container(workload))
        for variable in ("ANNEAL_LABEL_DB", "ANNEAL_STATE_DIR"):
            if variable not in env:
                continue
            checked += 1
            assert workload["kind"] == "StatefulSet", f"{name} keeps state: a StatefulSet"
            assert workload["spec"]["replicas"] == 1, f"{name}: one writer"
            claims = [t["metadata"]["name"] for t in workload["spec"]["volumeClaimTemplates"]]
            mount = mount_of(workload, env[variable]["value"])
            assert mount["name"] in claims, f"{name}: {variable} is not on its claim"
            assert not mount.get("readOnly", False)
    assert checked >= 3, "labels, selection and coordinator keep state"


def test_search_never_runs_twice(objects: tuple[Obj, ...]) -> None:
    """Search owns the index's in-memory drain state and cleans up on start: one process."""
    search = service_workloads(objects)["search"]
    assert search["kind"] == "Deployment"
    assert search["spec"]["replicas"] == 1
    assert search["spec"]["strategy"] == {"type": "Recreate"}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] == "retrieval"


def test_archive_is_mounted_read_only_where_the_setting_points(objects: tuple[Obj, ...]) -> None:
    archive = settings_set(objects)["ANNEAL_ARCHIVE"]
    for workload in service_workloads(objects).values():
        mount = mount_of(workload, archive)
        assert mount["readOnly"] is True
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        named(objects, "PersistentVolumeClaim", claim)


def dockerfile_instruction(keyword: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return re.findall(rf"^{keyword}\s+(.+)$", text, flags=re.MULTILINE)


def test_image_runs_as_the_manifests_user(objects: tuple[Obj, ...]) -> None:
    (user,) = dockerfile_instruction("USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    for workload in service_workloads(objects).values():
        pod = workload["spec"]["template"]["spec"]["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)


def test_image_default_command_is_a_service(catalog: Any) -> None:
    (cmd,) = dockerfile_instruction("CMD")
    assert tuple(shlex.split(cmd.replace('", "', " ").strip('[]"'))) in {
        spec.command for spec in catalog.values()
    }


def protoc_flags(text: str) -> list[str]:
    match = re.search(r"-m grpc_tools\.protoc((?:\s+-\S+)+)", text.replace("\\\n", " "))
    assert match, "no grpc_tools.protoc call"
    return match.group(1).split()


def test_image_generates_protos_like_make_proto() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert protoc_flags(dockerfile) == protoc_flags((REPO / "Makefile").read_text())
    assert "find annealpb -type d -exec touch {}/__init__.py" in dockerfile

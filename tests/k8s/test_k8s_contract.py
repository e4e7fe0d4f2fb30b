"""The manifests and the image agree with the code: commands, ports, settings and paths.

The catalog (services/common/catalog.py) is the source of the commands and ports; a service
"reads" a setting when its own ``--help`` lists the ANNEAL_* variable (service_settings.py).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from k8s_manifests import (
    REPO,
    Obj,
    app_workload,
    container_env,
    main_container,
    module_workloads,
    mount_of,
    named,
    of_kind,
    pod_mount,
    pod_volumes,
    ray_templates,
    service_workloads,
    settings_set,
    workload_settings,
)
from service_settings import declared_settings, refused_when_missing


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
        want = {
            "grpc": spec.grpc_port,
            "internal": spec.internal_port,
            "metrics": spec.metrics_port,
        }
        container = main_container(workload)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {**want, "health": spec.health_port}, name
        env = container_env(container)
        assert env["ANNEAL_PORT"]["value"] == str(spec.grpc_port), name
        assert env["ANNEAL_INTERNAL_PORT"]["value"] == str(spec.internal_port), name
        assert env["ANNEAL_METRICS_PORT"]["value"] == str(spec.metrics_port), name
        assert env["ANNEAL_HEALTH_PORT"]["value"] == str(spec.health_port), name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == spec.health_port, f"{name} {probe}"
        service = named(objects, "Service", name)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == want, name
        assert {p["targetPort"] for p in service["spec"]["ports"]} == set(want), name


def test_web_runs_the_web_app_once(objects: tuple[Obj, ...]) -> None:
    """services.web on its own ports (services/common/catalog.py), one replica: it keeps the
    signed-in sessions in memory, so a second replica would not know them."""
    from services.common.catalog import WEB_METRICS_PORT, WEB_PORT

    web = app_workload(objects, "web")
    assert web["kind"] == "Deployment"
    assert web["spec"]["replicas"] == 1, "sessions are in memory: one replica"
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] != "web"
    container = main_container(web)
    assert container["command"] == ["python", "-m", "services.web"]
    want = {"http": WEB_PORT, "metrics": WEB_METRICS_PORT}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == want
    env = container_env(container)
    assert env["ANNEAL_PORT"]["value"] == str(WEB_PORT)
    assert env["ANNEAL_METRICS_PORT"]["value"] == str(WEB_METRICS_PORT)
    service = named(objects, "Service", "web")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == want
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(want)
    named(objects, "ServiceMonitor", "web")
    named(objects, "NetworkPolicy", "web")


def test_every_setting_is_read_by_its_service(
    objects: tuple[Obj, ...], declared: dict[str, dict[str, str]]
) -> None:
    for name, settings in settings_set(objects).items():
        unread = sorted(set(settings) - set(declared[name]))
        assert not unread, f"{name}'s pod sets variables services.{name} does not read: {unread}"
    web = workload_settings(objects, app_workload(objects, "web"))
    unread = sorted(set(web) - set(declared_settings("web")))
    assert not unread, f"web's pod sets variables services.web does not read: {unread}"


# Settings naming files or folders. Their defaults are relative paths, i.e. inside the image's
# read-only working directory, so a pod must set them to absolute paths on a volume.
PATH_SETTINGS = {
    "ANNEAL_STATE_DIR",
    "ANNEAL_LABEL_DB",
    "ANNEAL_MILVUS_URI",
    "ANNEAL_FEATURE_CACHE",
    "ANNEAL_EMBEDDINGS_DIR",
}


def required_in_a_pod(name: str, defaults: dict[str, str]) -> set[str]:
    """What a pod must set: settings the service refuses to start without, loopback defaults
    (a listener or a peer on 127.0.0.1 is unreachable between pods) and relative paths."""
    required = refused_when_missing(REPO / "services" / name / "__main__.py")
    required |= {k for k, default in defaults.items() if default.startswith("127.0.0.1")}
    required |= {
        k
        for k, default in defaults.items()
        if k in PATH_SETTINGS and default and "://" not in default and not default.startswith("/")
    }
    return required


def test_path_settings_are_settings_of_a_service(declared: dict[str, dict[str, str]]) -> None:
    read = set().union(*declared.values())
    assert read >= PATH_SETTINGS, f"no service reads {sorted(PATH_SETTINGS - read)}"


def test_required_settings_are_set(
    objects: tuple[Obj, ...], declared: dict[str, dict[str, str]]
) -> None:
    assert {"ANNEAL_ARCHIVE", "ANNEAL_HOST"} <= required_in_a_pod(
        "coordinator", declared["coordinator"]
    ), "the rule finds what the coordinator needs"
    for name, settings in settings_set(objects).items():
        missing = sorted(required_in_a_pod(name, declared[name]) - set(settings))
        assert not missing, f"{name}'s pod leaves {missing} at values that cannot work in a pod"
        for variable in PATH_SETTINGS & set(settings):
            value = settings[variable]
            assert value.startswith("/") or "://" in value, f"{name}: {variable}={value}"
        assert settings["ANNEAL_HOST"] == "0.0.0.0", f"{name} must listen on the pod's address"


def test_the_web_apps_required_settings_are_set(objects: tuple[Obj, ...]) -> None:
    # Its refusal names ANNEAL_INSECURE=true as the alternative to a token file (debugging only,
    # never in a pod: test_k8s_credentials.py), so that one is not required.
    required = required_in_a_pod("web", declared_settings("web")) - {"ANNEAL_INSECURE"}
    assert {"ANNEAL_ARCHIVE", "ANNEAL_TOKENS_FILE", "ANNEAL_HOST"} <= required
    settings = workload_settings(objects, app_workload(objects, "web"))
    missing = sorted(required - set(settings))
    assert not missing, f"web's pod leaves {missing} at values that cannot work in a pod"
    assert settings["ANNEAL_HOST"] == "0.0.0.0", "web must listen on the pod's address"
    assert settings["ANNEAL_ARCHIVE"].startswith("/")


def test_service_addresses_point_at_services(objects: tuple[Obj, ...], catalog: Any) -> None:
    """Services call each other on the callee's internal (mutual-TLS) port, never its public
    one, where a service's certificate is no credential."""
    addresses = {
        variable: value
        for settings in settings_set(objects).values()
        for variable, value in settings.items()
        if variable.endswith("_ADDR")
    }
    assert addresses
    for variable, value in addresses.items():
        name = variable.removeprefix("ANNEAL_").removesuffix("_ADDR").lower()
        named(objects, "Service", name)
        assert value == f"{name}:{catalog[name].internal_port}", variable


def test_web_addresses_are_the_public_ports(objects: tuple[Obj, ...], catalog: Any) -> None:
    """The web app calls the services with people's tokens, as any client: on the public
    port, where the token's role decides, never the internal one (a service's certificate)."""
    settings = workload_settings(objects, app_workload(objects, "web"))
    addresses = {k: v for k, v in settings.items() if k.endswith("_ADDR")}
    assert set(addresses) == {f"ANNEAL_{name.upper()}_ADDR" for name in catalog}
    for variable, value in addresses.items():
        name = variable.removeprefix("ANNEAL_").removesuffix("_ADDR").lower()
        named(objects, "Service", name)
        assert value == f"{name}:{catalog[name].grpc_port}", variable


def test_shared_model_settings_agree(objects: tuple[Obj, ...]) -> None:
    """The embedding service runs the models the coordinator trains: same backbone."""
    settings = settings_set(objects)
    assert settings["embedding"]["ANNEAL_BACKBONE"] == settings["coordinator"]["ANNEAL_BACKBONE"]


def shared_claim(workload: Obj, mount: Obj) -> str:
    """The PersistentVolumeClaim a service pod's volume names (not a per-pod
    volumeClaimTemplate)."""
    return pod_claim(workload["spec"]["template"]["spec"], mount)


def pod_claim(spec: Obj, mount: Obj) -> str:
    """The PersistentVolumeClaim that the volume of a pod spec's ``mount`` names."""
    volume = pod_volumes(spec).get(mount["name"])
    assert volume and "persistentVolumeClaim" in volume, f"{mount['name']} is not a shared claim"
    return str(volume["persistentVolumeClaim"]["claimName"])


def assert_shared_between_nodes(overlay: str, objects: tuple[Obj, ...], claim: str) -> None:
    """Pods on different nodes mount ``claim``: ReadWriteMany, but in the one-node dev overlay."""
    modes = named(objects, "PersistentVolumeClaim", claim)["spec"]["accessModes"]
    assert modes == (["ReadWriteOnce"] if overlay == "dev" else ["ReadWriteMany"]), claim


def test_state_lives_on_the_workloads_own_volume(objects: tuple[Obj, ...]) -> None:
    checked = 0
    for name, workload in service_workloads(objects).items():
        env = container_env(main_container(workload))
        for variable in ("ANNEAL_LABEL_DB", "ANNEAL_STATE_DIR", "ANNEAL_FEATURE_CACHE"):
            if variable not in env:
                continue
            checked += 1
            assert workload["kind"] == "StatefulSet", f"{name} keeps state: a StatefulSet"
            assert workload["spec"]["replicas"] == 1, f"{name}: one writer"
            claims = [t["metadata"]["name"] for t in workload["spec"]["volumeClaimTemplates"]]
            mount = mount_of(workload, env[variable]["value"])
            assert mount["name"] in claims, f"{name}: {variable} is not on its claim"
            assert not mount.get("readOnly", False)
    assert checked >= 4, "labels, selection and coordinator keep state"


# services/coordinator/__main__.py keeps checkpoints in ANNEAL_STATE_DIR/coordinator/models and
# LoadModel hands the embedding service a path in it.
CHECKPOINTS = "coordinator/models"


def assert_shared_folder(
    overlay: str, objects: tuple[Obj, ...], reader_name: str, folder: str
) -> None:
    """The coordinator writes ``folder`` and ``reader_name`` reads it: the same path in both
    pods, on one claim, read-write for the coordinator, read-only for the reader, and shared
    between nodes (ReadWriteMany) but in the one-node dev overlay."""
    workloads = service_workloads(objects)
    coordinator, reader = workloads["coordinator"], workloads[reader_name]
    written, read = mount_of(coordinator, folder), mount_of(reader, folder)
    assert written["mountPath"] == read["mountPath"], "the same path in both pods"
    assert not written.get("readOnly", False), "the coordinator writes there"
    assert read.get("readOnly") is True, f"{reader_name} only reads there"
    claim = shared_claim(coordinator, written)
    assert shared_claim(reader, read) == claim, "both pods mount the same claim"
    assert_shared_between_nodes(overlay, objects, claim)


def test_embedding_reads_the_checkpoints_the_coordinator_writes(
    overlay: str, objects: tuple[Obj, ...]
) -> None:
    source = (REPO / "services" / "coordinator" / "__main__.py").read_text()
    assert '/ "coordinator"' in source and '/ "models"' in source, "checkpoint folder moved"
    coordinator = service_workloads(objects)["coordinator"]
    state = container_env(main_container(coordinator))["ANNEAL_STATE_DIR"]["value"]
    assert_shared_folder(overlay, objects, "embedding", f"{state}/{CHECKPOINTS}")


def test_selection_reads_the_embeddings_the_coordinator_writes(
    overlay: str, objects: tuple[Obj, ...]
) -> None:
    workloads = service_workloads(objects)
    folders = {
        name: container_env(main_container(workloads[name]))["ANNEAL_EMBEDDINGS_DIR"]["value"]
        for name in ("coordinator", "selection")
    }
    assert folders["coordinator"] == folders["selection"], "both name the same folder"
    assert_shared_folder(overlay, objects, "selection", folders["coordinator"])


def test_ray_pods_read_the_archive_where_the_coordinator_does(
    overlay: str, objects: tuple[Obj, ...]
) -> None:
    """The coordinator's ingest actors (ANNEAL_EXTRACT_ENGINE=ray-data) and full rounds' Ray
    Train workers read archive images by the paths the coordinator gives them: every Ray pod
    mounts the coordinator's archive claim at its ANNEAL_ARCHIVE, read-only."""
    coordinator = service_workloads(objects)["coordinator"]
    archive = settings_set(objects)["coordinator"]["ANNEAL_ARCHIVE"]
    mount = mount_of(coordinator, archive)
    claim = shared_claim(coordinator, mount)
    templates = ray_templates(objects)
    assert len(templates) >= 2, "the Ray head and a worker group"
    for tpl in templates:
        read = pod_mount(tpl.spec, archive, tpl.owner)
        assert read["mountPath"] == mount["mountPath"], f"{tpl.owner}: not at the same path"
        assert read.get("readOnly") is True, f"{tpl.owner} only reads the archive"
        assert pod_claim(tpl.spec, read) == claim, f"{tpl.owner}: not the coordinator's claim"
    assert_shared_between_nodes(overlay, objects, claim)


# services/coordinator/__main__.py gives full mode Ray Train's storage in
# ANNEAL_STATE_DIR/coordinator/ray-train.
RAY_TRAIN = "coordinator/ray-train"


def test_ray_train_storage_is_a_claim_the_coordinator_and_the_ray_pods_share(
    overlay: str, objects: tuple[Obj, ...]
) -> None:
    """Ray Train's controller and rank-0 worker write each full run's checkpoint under the
    coordinator's Ray Train storage, and the coordinator reads it back and removes it: one claim
    at that path, writable in the coordinator and in every Ray pod, shared between nodes."""
    source = (REPO / "services" / "coordinator" / "__main__.py").read_text()
    assert '/ "coordinator"' in source and 'folder / "ray-train"' in source, "storage moved"
    coordinator = service_workloads(objects)["coordinator"]
    state = container_env(main_container(coordinator))["ANNEAL_STATE_DIR"]["value"]
    folder = f"{state}/{RAY_TRAIN}"
    written = mount_of(coordinator, folder)
    assert not written.get("readOnly", False), "the coordinator removes the runs' checkpoints"
    claim = shared_claim(coordinator, written)
    for tpl in ray_templates(objects):
        mount = pod_mount(tpl.spec, folder, tpl.owner)
        assert mount["mountPath"] == written["mountPath"], f"{tpl.owner}: not at the same path"
        assert not mount.get("readOnly", False), f"{tpl.owner} writes the runs there"
        assert pod_claim(tpl.spec, mount) == claim, f"{tpl.owner}: not the coordinator's claim"
    assert_shared_between_nodes(overlay, objects, claim)


def test_search_never_runs_twice(objects: tuple[Obj, ...]) -> None:
    """Search owns the index's in-memory drain state and cleans up on start: one process."""
    search = service_workloads(objects)["search"]
    assert search["kind"] == "Deployment"
    assert search["spec"]["replicas"] == 1
    assert search["spec"]["strategy"] == {"type": "Recreate"}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] == "retrieval"


def test_archive_is_mounted_read_only_where_the_setting_points(
    objects: tuple[Obj, ...], declared: dict[str, dict[str, str]]
) -> None:
    workloads = service_workloads(objects)
    settings = settings_set(objects)
    readers = {name for name, s in settings.items() if "ANNEAL_ARCHIVE" in s}
    assert readers == {n for n, d in declared.items() if "ANNEAL_ARCHIVE" in d}, readers
    for name in readers:
        mount = mount_of(workloads[name], settings[name]["ANNEAL_ARCHIVE"])
        assert mount["readOnly"] is True, name
        named(objects, "PersistentVolumeClaim", shared_claim(workloads[name], mount))
    web = app_workload(objects, "web")
    path = workload_settings(objects, web)["ANNEAL_ARCHIVE"]
    mount = mount_of(web, path)
    assert mount["readOnly"] is True, "web"
    assert shared_claim(web, mount) == shared_claim(
        workloads["embedding"],
        mount_of(workloads["embedding"], settings["embedding"]["ANNEAL_ARCHIVE"]),
    ), "web reads the services' archive"


def dockerfile_instruction(keyword: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return re.findall(rf"^{keyword}\s+(.+)$", text, flags=re.MULTILINE)


def test_image_runs_as_the_manifests_user(objects: tuple[Obj, ...]) -> None:
    (user,) = dockerfile_instruction("USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    for workload in module_workloads(objects).values():
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

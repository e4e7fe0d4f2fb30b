"""The label backup (issue 9): an hourly CronJob, an operator client with its token from a Secret,
asks the labels service (BackupLabels) to copy its store to the second volume, the PVC
labels-backup, which the labels pod mounts where ANNEAL_LABELS_BACKUP_DIR points; the job's pod
reaches the labels service's public port and nothing else."""

from __future__ import annotations

from k8s_manifests import (
    OVERLAY_NAMESPACES,
    Obj,
    container_env,
    main_container,
    mount_of,
    named,
    service_workloads,
)
from network_policies import Pod, Policies, container_ports, describe, tcp

from services.security.policy import rule_for
from services.security.principal import Principal, Role


def backup_pod(objects: tuple[Obj, ...]) -> Obj:
    job = named(objects, "CronJob", "labels-backup")
    assert job["spec"]["concurrencyPolicy"] == "Forbid", "one backup at a time"
    return job["spec"]["jobTemplate"]["spec"]["template"]


def test_the_cronjob_asks_the_labels_service_for_a_backup(objects: tuple[Obj, ...]) -> None:
    (container,) = backup_pod(objects)["spec"]["containers"]
    command = container["command"]
    assert command[:5] == ["python", "-m", "services.cli.main", "labels", "backup"]
    assert command[command.index("--labels") + 1] == "labels:50055"  # the public port
    env = container_env(container)
    token = env["ANNEAL_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (token["name"], token["key"]) == ("anneal-labels-backup-token", "token")
    assert env["ANNEAL_CA"]["value"].endswith("/ca.crt")
    operator = Principal("labels-backup", Role.OPERATOR, "token")
    assert rule_for("/anneal.labels.v1.LabelService/BackupLabels").allows(operator)


def test_the_labels_pod_writes_backups_to_the_second_volume(objects: tuple[Obj, ...]) -> None:
    labels = service_workloads(objects)["labels"]
    env = container_env(main_container(labels))
    mount = mount_of(labels, env["ANNEAL_LABELS_BACKUP_DIR"]["value"])
    assert not mount.get("readOnly", False)
    volumes = {v["name"]: v for v in labels["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == "labels-backup"
    store = mount_of(labels, env["ANNEAL_LABEL_DB"]["value"])
    assert store["name"] != mount["name"], "backups live apart from the store"
    assert named(objects, "PersistentVolumeClaim", "labels-backup")


def test_the_backup_pod_reaches_only_the_labels_public_port(
    overlay: str, objects: tuple[Obj, ...]
) -> None:
    """Its operator label opens every service's public port to it; its own policy lets it send
    to labels only."""
    namespace = OVERLAY_NAMESPACES[overlay]
    src = Pod("labels-backup", namespace, backup_pod(objects)["metadata"]["labels"], {})
    policies = Policies(objects)
    for name, workload in service_workloads(objects).items():
        template = workload["spec"]["template"]
        ports = container_ports(template["spec"]["containers"])
        dst = Pod(name, namespace, template["metadata"]["labels"], ports)
        got = policies.reachable(src, dst)
        want = tcp(50055) if name == "labels" else frozenset()
        assert got == want, f"labels-backup -> {name}: {describe(got)}"

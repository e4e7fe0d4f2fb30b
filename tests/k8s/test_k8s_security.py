"""Pods run non-root on a read-only root filesystem without capabilities, with probes and
resources; NetworkPolicies let only the intended callers reach each service."""

from __future__ import annotations

from typing import Any

from k8s_manifests import Obj, main_container, of_kind, pod_templates, service_workloads

# Who may call each service's gRPC port: a service name (same namespace) or a client label
# (any namespace). Retrieval's callers are client apps; labelling services list a round's pending
# pairs on selection and answer them to labels.
EXPECTED_CALLERS = {
    "retrieval": {"anneal.io/retrieval-client=true"},
    "embedding": {"retrieval", "coordinator"},
    "search": {"retrieval", "coordinator"},
    "selection": {"coordinator", "anneal.io/labelling-client=true"},
    "labels": {"coordinator", "anneal.io/labelling-client=true"},
    "coordinator": {"anneal.io/operator=true"},
}
PROMETHEUS = "monitoring/app.kubernetes.io/name=prometheus"


def test_pods_run_restricted(objects: tuple[Obj, ...]) -> None:
    templates = list(pod_templates(objects))
    assert len(templates) >= 8, "six services, the Ray head and its workers"
    for tpl in templates:
        pod = tpl.spec["securityContext"]
        assert pod["runAsNonRoot"] is True, tpl.owner
        assert pod["runAsUser"] != 0, tpl.owner
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", tpl.owner
        for container in tpl.spec["containers"]:
            where = f"{tpl.owner}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: a read-only root needs a writable /tmp"


def test_services_have_native_grpc_probes(objects: tuple[Obj, ...]) -> None:
    for workload in service_workloads(objects).values():
        container = main_container(workload)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert set(container[probe]) & {"exec", "httpGet", "tcpSocket"} == set()
            assert "service" not in container[probe]["grpc"], "probe the server's overall health"


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "the test reads matchLabels only"
    return selector.get("matchLabels", {}).items() <= labels.items()


def peer_name(peer: Obj) -> str:
    """'retrieval' for a service's pods here, 'k=v,...' for other pods (any namespace if
    namespaceSelector is {}), 'ns/k=v' for pods of a named namespace."""
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    namespaces = peer.get("namespaceSelector")
    assert pods, f"peer {peer} admits whole namespaces"
    if namespaces is None and set(pods) == {"app.kubernetes.io/name"}:
        return str(pods["app.kubernetes.io/name"])
    labels = ",".join(f"{k}={v}" for k, v in sorted(pods.items()))
    if not namespaces:
        return labels
    return f"{namespaces['matchLabels']['kubernetes.io/metadata.name']}/{labels}"


def allowed(objects: tuple[Obj, ...], pod_labels: dict[str, str], port: Any) -> set[str]:
    """Peers the NetworkPolicies let reach ``port`` of pods with ``pod_labels``."""
    peers: set[str] = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        if not selects(policy["spec"]["podSelector"], pod_labels):
            continue
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            assert "from" in rule, f"{policy['metadata']['name']}: a rule open to everyone"
            if not ports or port in ports:
                peers |= {peer_name(peer) for peer in rule["from"]}
    return peers


def test_only_intended_callers_reach_each_service(objects: tuple[Obj, ...], catalog: Any) -> None:
    assert set(EXPECTED_CALLERS) == set(catalog)
    workloads = service_workloads(objects)
    for name, spec in catalog.items():
        labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert allowed(objects, labels, spec.grpc_port) == EXPECTED_CALLERS[name], name
        assert allowed(objects, labels, "metrics") == {PROMETHEUS}, name
        assert allowed(objects, labels, spec.metrics_port) == set(), name


def test_ray_and_milvus_admit_only_their_clients(objects: tuple[Obj, ...]) -> None:
    head = {"ray.io/cluster": "anneal-ray", "ray.io/node-type": "head"}
    assert allowed(objects, head, 10001) == {"embedding", "ray.io/cluster=anneal-ray"}
    milvus = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "anneal"}
    assert allowed(objects, milvus, 19530) == {
        "search",
        "app.kubernetes.io/instance=anneal,app.kubernetes.io/name=milvus",
    }

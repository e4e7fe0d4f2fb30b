"""Pods run non-root on a read-only root filesystem without capabilities, with probes and
resources; the NetworkPolicies allow exactly the calls the code makes and deny everything else.

Service-to-service edges are not listed here: they are read from the services' code
(tests/call_edges.py), so a policy cannot pass by agreeing with a wrong list. The callers from
outside (client apps, labelling services, operators, Prometheus) are the access model's choice
and are listed below, checked to cover at least what the CLI's client commands call. The web
app (services/web) is such a caller inside the namespace: it reaches the public port of each
service it has an address for (its ANNEAL_<NAME>_ADDR, which must cover the stubs its code
builds), and only pods labelled anneal.io/web-client reach it.
"""

from __future__ import annotations

from typing import Any

import pytest
from call_edges import REPO, app_stubs, code_call_edges, service_pairs, stubs_of_files
from k8s_manifests import (
    OVERLAY_NAMESPACES,
    Obj,
    app_workload,
    main_container,
    named,
    of_kind,
    pod_templates,
    service_workloads,
    settings_set,
    workload_settings,
)
from network_policies import SENTINEL_PORT, Pod, Policies, container_ports, describe, tcp

# Pods outside the namespace that call the services' public ports, by label (any namespace).
RETRIEVAL_CLIENT = "anneal.io/retrieval-client"
LABELLING_CLIENT = "anneal.io/labelling-client"
OPERATOR = "anneal.io/operator"
WEB_CLIENT = "anneal.io/web-client"  # may open the web app's HTTPS port (an ingress controller)
CLIENT_LABELS = (RETRIEVAL_CLIENT, LABELLING_CLIENT, OPERATOR, WEB_CLIENT)
# Who may open a connection to each service's public gRPC port (TLS; the token's role then
# decides which RPCs): client apps query retrieval; labelling services list pending pairs on
# selection, answer to labels, and read the open round from the coordinator; operators run
# rounds and read the status of every service.
PUBLIC_CALLERS = {
    "retrieval": {RETRIEVAL_CLIENT, OPERATOR},
    "embedding": {OPERATOR},
    "search": {OPERATOR},
    "selection": {LABELLING_CLIENT, OPERATOR},
    "labels": {LABELLING_CLIENT, OPERATOR},
    "coordinator": {LABELLING_CLIENT, OPERATOR},
}
# What each kind of client runs (services/cli, services/demo): the services it builds stubs for
# must be among those its label reaches.
CLIENT_CODE = {
    RETRIEVAL_CLIENT: ["services/cli/query_command.py"],
    LABELLING_CLIENT: ["services/cli/label_command.py", "services/demo/annotator.py"],
    OPERATOR: [
        "services/cli/round_command.py",
        "services/cli/status_command.py",
        "services/cli/labels_command.py",
    ],
}

# Pods the operators create, with the labels they give them (Milvus Operator and the Helm charts
# it installs its dependencies with; KubeRay adds ray.io/* to the RayCluster's templates).
MILVUS_LABELS = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "anneal"}
ETCD_LABELS = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": "anneal-etcd"}
MINIO_LABELS = {"app.kubernetes.io/name": "minio", "app.kubernetes.io/instance": "anneal-minio"}
PULSAR_LABELS = {"app": "pulsar", "release": "anneal-pulsar", "component": "broker"}


def outside(name: str, namespace: str, labels: dict[str, str], **ports: int) -> Pod:
    return Pod(name, namespace, labels, {k: ("TCP", v) for k, v in ports.items()})


PROMETHEUS = outside("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
GRAFANA = outside("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"})
STRANGER = outside("stranger", "elsewhere", {})
KUBE_DNS = Pod(
    "kube-dns",
    "kube-system",
    {"k8s-app": "kube-dns"},
    {"dns": ("UDP", 53), "dns-tcp": ("TCP", 53), "metrics": ("TCP", 9153)},
)
MILVUS_OPERATOR = outside(
    "milvus-operator", "milvus-operator", {"app.kubernetes.io/name": "milvus-operator"}
)


def client(label: str, namespace: str = "clients") -> Pod:
    return outside(f"{label} pod in {namespace}", namespace, {label: "true"})


class Cluster:
    """The overlay's pods and policies."""

    def __init__(self, overlay: str, objects: tuple[Obj, ...]) -> None:
        self.namespace = OVERLAY_NAMESPACES[overlay]
        self.policies = Policies(objects)
        self.services: dict[str, Pod] = {}
        for name, workload in service_workloads(objects).items():
            template = workload["spec"]["template"]
            self.services[name] = Pod(
                name,
                self.namespace,
                template["metadata"]["labels"],
                container_ports(template["spec"]["containers"]),
            )
        web = app_workload(objects, "web")
        template = web["spec"]["template"]
        self.web = Pod(
            "web",
            self.namespace,
            template["metadata"]["labels"],
            container_ports(template["spec"]["containers"]),
        )
        self.web_settings = workload_settings(objects, web)
        ray = named(objects, "RayCluster", "anneal-ray")
        self.ray: dict[str, Pod] = {}
        for tpl in pod_templates(objects):
            if not tpl.owner.startswith("RayCluster/"):
                continue
            group = tpl.owner.rsplit("/", 1)[1]
            labels = {
                **tpl.labels,
                "ray.io/cluster": ray["metadata"]["name"],
                "ray.io/node-type": "head" if group == "head" else "worker",
                "ray.io/group": "headgroup" if group == "head" else group,
            }
            self.ray[group] = Pod(
                f"ray {group}", self.namespace, labels, container_ports(tpl.spec["containers"])
            )
        ns = self.namespace
        self.milvus = outside("milvus", ns, MILVUS_LABELS, milvus=19530, metrics=9091)
        self.etcd = outside("etcd", ns, ETCD_LABELS, client=2379, peer=2380)
        self.minio = outside("minio", ns, MINIO_LABELS, minio=9000)
        self.pulsar = outside("pulsar", ns, PULSAR_LABELS, pulsar=6650, http=8080)

    def platform(self) -> list[Pod]:
        return [*self.ray.values(), self.milvus, self.etcd, self.minio, self.pulsar]

    def anneal_pods(self) -> dict[str, Pod]:
        """The pods that run ANNEAL's code: the six services and the web app."""
        return {**self.services, "web": self.web}

    def every_pod(self) -> list[Pod]:
        return [*self.anneal_pods().values(), *self.platform()]


@pytest.fixture
def cluster(overlay: str, objects: tuple[Obj, ...]) -> Cluster:
    return Cluster(overlay, objects)


def test_pods_run_restricted(objects: tuple[Obj, ...]) -> None:
    templates = list(pod_templates(objects))
    assert len(templates) >= 9, "six services, the web app, the Ray head and its workers"
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
    """The six gRPC services; the web app serves HTTP: test_web_has_https_get_probes."""
    for workload in service_workloads(objects).values():
        container = main_container(workload)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert set(container[probe]) & {"exec", "httpGet", "tcpSocket"} == set()
            assert "service" not in container[probe]["grpc"], "probe the server's overall health"


def test_probes_use_the_plaintext_health_port(objects: tuple[Obj, ...], catalog: Any) -> None:
    """The public and internal ports serve TLS only and the kubelet's gRPC probes speak
    plaintext, so each service serves health alone on its health port (ANNEAL_HEALTH_PORT)."""
    for name, workload in service_workloads(objects).items():
        container = main_container(workload)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc_probe = container[probe]["grpc"]
            assert grpc_probe == {"port": catalog[name].health_port}, f"{name} {probe}"


def test_web_has_https_get_probes(objects: tuple[Obj, ...]) -> None:
    """The web app speaks HTTP(S), not gRPC: the kubelet GETs /healthz on its HTTPS port (it
    does not verify the certificate of an HTTPS probe)."""
    source = (REPO / "services" / "web" / "app.py").read_text()
    assert '@app.get("/healthz"' in source, "the web app's health route moved"
    container = main_container(app_workload(objects, "web"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert str(ports["http"]) == env["ANNEAL_PORT"], "probes GET the port the app serves"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert set(container[probe]) & {"exec", "grpc", "tcpSocket"} == set(), probe
        want = {"path": "/healthz", "port": "http", "scheme": "HTTPS"}
        assert container[probe]["httpGet"] == want, probe


def test_default_deny_in_both_directions(objects: tuple[Obj, ...]) -> None:
    deny = [
        p
        for p in of_kind(objects, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1, "one policy selecting every pod, allowing nothing either way"


def test_the_code_calls_are_allowed_on_the_internal_port_only(
    cluster: Cluster, catalog: Any
) -> None:
    edges = code_call_edges()
    assert service_pairs(edges), "the code makes no service-to-service call?"
    for caller, callee in sorted(service_pairs(edges)):
        src, dst = cluster.services[caller], cluster.services[callee]
        want = tcp(catalog[callee].internal_port)
        methods = sorted(e.method for e in edges if (e.caller, e.callee) == (caller, callee))
        where = f"{caller} calls {callee} ({', '.join(methods)})"
        assert cluster.policies.ingress(src, dst) & want, f"{where}: no ingress on {callee}"
        assert cluster.policies.egress(src, dst) & want, f"{where}: no egress from {caller}"
        got = cluster.policies.reachable(src, dst)
        assert got == want, f"{where}: reaches {describe(got)}, only the internal port"


def test_no_other_service_to_service_traffic(cluster: Cluster) -> None:
    calls = service_pairs()
    for caller, src in cluster.services.items():
        for callee, dst in cluster.services.items():
            if (caller, callee) in calls:
                continue
            ingress = cluster.policies.ingress(src, dst)
            egress = cluster.policies.egress(src, dst)
            where = f"{caller} -> {callee}, which the code never calls"
            assert not ingress, f"{where}: {callee} admits {describe(ingress)}"
            assert not egress, f"{where}: {caller} may send to {describe(egress)}"


def web_dials(cluster: Cluster) -> dict[str, str]:
    """Service -> the address the web app dials it at (its ANNEAL_<NAME>_ADDR)."""
    return {
        variable.removeprefix("ANNEAL_").removesuffix("_ADDR").lower(): address
        for variable, address in cluster.web_settings.items()
        if variable.endswith("_ADDR")
    }


def test_web_reaches_the_public_port_of_each_service_it_dials(
    cluster: Cluster, catalog: Any
) -> None:
    """The web app calls the services as a client, with each signed-in person's token: on the
    public port, never the internal (mutual-TLS) one. It dials every service it has an address
    for (health checks of all six; the stubs its code builds are among them)."""
    dialled = web_dials(cluster)
    assert set(dialled) == set(catalog), "the web app has the address of every service"
    built = app_stubs("web")
    assert built, "services/web builds no stub: moved?"
    assert built <= set(dialled), f"services/web builds stubs of {sorted(built)}"
    for name, spec in catalog.items():
        src, dst = cluster.web, cluster.services[name]
        want = tcp(spec.grpc_port)
        assert cluster.policies.ingress(src, dst) & want, f"web -> {name}: no ingress"
        assert cluster.policies.egress(src, dst) & want, f"web -> {name}: no egress from web"
        got = cluster.policies.reachable(src, dst)
        assert got == want, f"web -> {name}: reaches {describe(got)}, only the public port"


def test_no_service_reaches_the_web_app(cluster: Cluster) -> None:
    for name, src in cluster.services.items():
        ingress = cluster.policies.ingress(src, cluster.web)
        egress = cluster.policies.egress(src, cluster.web)
        assert not ingress, f"{name} -> web: web admits {describe(ingress)}"
        assert not egress, f"{name} may send to web: {describe(egress)}"
    got = cluster.policies.egress(cluster.web, cluster.web)
    assert not got, f"web may send to itself: {describe(got)}"


def test_web_port_admits_only_web_clients(cluster: Cluster) -> None:
    for namespace in ("clients", "ingress-nginx"):
        got = cluster.policies.reachable(client(WEB_CLIENT, namespace), cluster.web)
        assert got == tcp(8080), f"web client in {namespace} -> web: {describe(got)}"
    for label in (RETRIEVAL_CLIENT, LABELLING_CLIENT, OPERATOR):
        got = cluster.policies.reachable(client(label), cluster.web)
        assert not got, f"{label} -> web: {describe(got)}"
    for stranger in (STRANGER, GRAFANA, KUBE_DNS, *cluster.platform()):
        got = cluster.policies.reachable(stranger, cluster.web)
        assert not got, f"{stranger.name} -> web: {describe(got)}"
    assert cluster.policies.reachable(PROMETHEUS, cluster.web) == tcp(9107), "metrics only"


def test_public_ports_admit_only_their_clients(cluster: Cluster, catalog: Any) -> None:
    assert set(PUBLIC_CALLERS) == set(catalog)
    for name, spec in catalog.items():
        dst = cluster.services[name]
        for label in CLIENT_LABELS:
            for namespace in ("clients", "monitoring"):
                got = cluster.policies.reachable(client(label, namespace), dst)
                want = tcp(spec.grpc_port) if label in PUBLIC_CALLERS[name] else frozenset()
                assert got == want, f"{label} in {namespace} -> {name}: {describe(got)}"
        for stranger in (STRANGER, GRAFANA, KUBE_DNS):
            got = cluster.policies.reachable(stranger, dst)
            assert not got, f"{stranger.name} -> {name}: {describe(got)}"


def test_public_callers_cover_what_the_client_commands_call(catalog: Any) -> None:
    for label, files in CLIENT_CODE.items():
        called = stubs_of_files([REPO / f for f in files])
        assert called, f"{files} build no stub: moved?"
        reached = {name for name, labels in PUBLIC_CALLERS.items() if label in labels}
        assert called <= reached, f"{label} pods run {files}, which call {sorted(called)}"
    # `anneal status` checks the health of every service.
    assert {n for n, labels in PUBLIC_CALLERS.items() if OPERATOR in labels} == set(catalog)


def test_metrics_ports_admit_only_prometheus(cluster: Cluster, catalog: Any) -> None:
    elsewhere = outside("prometheus elsewhere", "other", dict(PROMETHEUS.labels))
    for name, spec in catalog.items():
        dst = cluster.services[name]
        got = cluster.policies.reachable(PROMETHEUS, dst)
        assert got == tcp(spec.metrics_port), f"prometheus -> {name}: {describe(got)}"
        for other in (elsewhere, GRAFANA):
            assert not cluster.policies.reachable(other, dst), f"{other.name} -> {name}"
        for src in cluster.anneal_pods().values():
            got = cluster.policies.reachable(src, dst)
            assert ("TCP", spec.metrics_port) not in got, f"{src.name} -> {name} metrics"


def test_every_pod_resolves_names_and_reaches_nothing_else_outside(cluster: Cluster) -> None:
    other_kube_system = outside("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}, m=10249)
    for pod in cluster.every_pod():
        dns = cluster.policies.reachable(pod, KUBE_DNS)
        assert {("UDP", 53), ("TCP", 53)} <= dns, f"{pod.name} cannot resolve names"
        assert ("TCP", 9153) not in dns, f"{pod.name} -> kube-dns metrics"
        if pod.name == "ray head":
            continue  # the autoscaler reaches the API server: test_ray_head_*
        for far in (other_kube_system, STRANGER, PROMETHEUS, client(OPERATOR)):
            got = cluster.policies.egress(pod, far)
            assert not got, f"{pod.name} may send to {far.name}: {describe(got)}"


def test_search_alone_reaches_milvus(cluster: Cluster) -> None:
    for name, src in cluster.anneal_pods().items():
        got = cluster.policies.reachable(src, cluster.milvus)
        assert got == (tcp(19530) if name == "search" else frozenset()), f"{name} -> Milvus"
        for dependency in (cluster.etcd, cluster.minio, cluster.pulsar):
            assert not cluster.policies.reachable(src, dependency), f"{name} -> {dependency.name}"
    assert cluster.policies.reachable(PROMETHEUS, cluster.milvus) == tcp(9091)
    for stranger in (STRANGER, client(OPERATOR), GRAFANA):
        assert not cluster.policies.reachable(stranger, cluster.milvus), stranger.name


def test_milvus_reaches_its_dependencies(cluster: Cluster) -> None:
    policies, milvus = cluster.policies, cluster.milvus
    assert policies.reachable(milvus, milvus) >= tcp(19530, 9091, SENTINEL_PORT)
    assert policies.reachable(milvus, cluster.etcd) == tcp(2379)
    assert policies.reachable(milvus, cluster.minio) == tcp(9000)
    assert policies.reachable(milvus, cluster.pulsar) >= tcp(6650, 8080)
    assert policies.reachable(cluster.etcd, cluster.etcd) == tcp(2379, 2380)
    assert policies.reachable(cluster.minio, cluster.minio) == tcp(9000)
    assert policies.reachable(MILVUS_OPERATOR, cluster.etcd) == tcp(2379)
    assert policies.reachable(MILVUS_OPERATOR, cluster.minio) == tcp(9000)
    assert policies.reachable(MILVUS_OPERATOR, cluster.pulsar) == tcp(6650)
    assert policies.reachable(MILVUS_OPERATOR, milvus) == tcp(19530, 9091)
    for dependency in (cluster.etcd, cluster.minio, cluster.pulsar):
        assert not policies.reachable(dependency, milvus), f"{dependency.name} -> Milvus"
        for ray in cluster.ray.values():
            assert not policies.reachable(ray, dependency), f"{ray.name} -> {dependency.name}"


def test_ray_head_admits_only_its_clients_on_the_client_port(
    cluster: Cluster, objects: tuple[Obj, ...]
) -> None:
    """The Ray clients are the services whose pods name a Ray address (ANNEAL_RAY_ADDRESS):
    embedding (its model actors) and the coordinator (ingest, full rounds). A Ray client speaks
    to the head's client port only; the head reaches the workers."""
    clients = {name for name, s in settings_set(objects).items() if s.get("ANNEAL_RAY_ADDRESS")}
    assert clients == {"embedding", "coordinator"}, clients
    head = cluster.ray["head"]
    assert {"client": ("TCP", 10001), "dashboard": ("TCP", 8265)}.items() <= head.ports.items()
    for name, src in cluster.anneal_pods().items():
        got = cluster.policies.reachable(src, head)
        want = tcp(10001) if name in clients else frozenset()
        assert got == want, f"{name} -> head: {describe(got)}"
        for group, worker in cluster.ray.items():
            if group != "head":
                assert not cluster.policies.reachable(src, worker), f"{name} -> {group}"
    for stranger in (STRANGER, client(OPERATOR), GRAFANA, cluster.milvus):
        got = cluster.policies.reachable(stranger, head)
        assert not got & tcp(10001, 8265), f"{stranger.name} -> head: {describe(got)}"
    assert cluster.policies.reachable(PROMETHEUS, head) == tcp(8080), "metrics only"
    api_server = Pod("kube-apiserver", "default", {}, {"https": ("TCP", 6443)})
    assert cluster.policies.egress(head, api_server) == tcp(443, 6443), "the autoscaler"


def test_ray_pods_reach_each_other(cluster: Cluster) -> None:
    for src in cluster.ray.values():
        for dst in cluster.ray.values():
            got = cluster.policies.reachable(src, dst)
            assert ("TCP", SENTINEL_PORT) in got, f"{src.name} -> {dst.name}: {describe(got)}"
        for other in (*cluster.anneal_pods().values(), cluster.milvus):
            # The head's API-server rule is an ipBlock, taken here to match pods too: what
            # stops it is the other pod's ingress.
            check = (
                cluster.policies.reachable
                if src is cluster.ray["head"]
                else cluster.policies.egress
            )
            got = check(src, other)
            assert not got, f"{src.name} -> {other.name}: {describe(got)}"

"""The opt-in component labelstudio-bridge: the Label Studio bridge beside the prod overlay.

Rendered as an operator opts in: a copy of k8s/ whose prod overlay lists the component among its
components (so the overlay's namespace and images reach it). The bridge runs once, with the
settings it reads, its Secrets mounted read-only and its SQLite file on its own claim; the web
app checks image links with the same key; the NetworkPolicies let the bridge reach the public
ports of labels and coordinator (the stubs its code builds) and Label Studio, and nothing else,
and let Label Studio reach its webhook port and Prometheus its metrics port, and nothing else.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from call_edges import REPO, app_stubs
from k8s_manifests import (
    K8S,
    OVERLAY_NAMESPACES,
    Obj,
    app_workload,
    container_env,
    main_container,
    mount_of,
    named,
    of_kind,
    pod_templates,
    pod_volumes,
    render_dir,
    secret_file,
    service_workloads,
    workload_settings,
)
from k8s_schema import schema_errors
from network_policies import Pod, Policies, container_ports, describe, tcp
from service_settings import help_settings

from services.common.catalog import LABELSTUDIO_METRICS_PORT, LABELSTUDIO_PORT, SERVICES
from services.labelstudio.settings import BridgeSettings

OVERLAY = "prod"
NAMESPACE = OVERLAY_NAMESPACES[OVERLAY]
BRIDGE = "labelstudio-bridge"
# Where the component takes Label Studio to run (the selectors operators adjust).
LABEL_STUDIO = Pod(
    "label-studio",
    "label-studio",
    {"app.kubernetes.io/name": "label-studio"},
    {"http": ("TCP", 8080)},
)
PROMETHEUS = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
STRANGER = Pod("stranger", "elsewhere", {}, {"http": ("TCP", 8080), "https": ("TCP", 443)})
KUBE_DNS = Pod(
    "kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": ("UDP", 53), "tcp": ("TCP", 53)}
)
# Each file setting of the bridge -> the (Secret, key) it must come from; none is in git.
SECRET_FILES = {
    "ANNEAL_TOKEN_FILE": ("anneal-labelstudio-bridge-token", "token"),
    "ANNEAL_LABEL_STUDIO_TOKEN_FILE": ("anneal-labelstudio-token", "token"),
    "ANNEAL_LABELSTUDIO_WEBHOOK_SECRET_FILE": ("anneal-labelstudio-webhook", "secret"),
    "ANNEAL_IMAGE_LINK_KEY_FILE": ("anneal-image-link-key", "image-links.key"),
    "ANNEAL_TLS_CA": ("anneal-labels-tls", "ca.crt"),
}


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Obj, ...]:
    copy = tmp_path_factory.mktemp("labelstudio-bridge") / "k8s"
    shutil.copytree(K8S, copy)
    kustomization = copy / "overlays" / OVERLAY / "kustomization.yaml"
    overlay = yaml.safe_load(kustomization.read_text())
    overlay["components"].append(f"../../components/{BRIDGE}")
    kustomization.write_text(yaml.safe_dump(overlay))
    return render_dir(Path(copy / "overlays" / OVERLAY))


@pytest.fixture(scope="module")
def bridge(objects: tuple[Obj, ...]) -> Obj:
    return app_workload(objects, "labelstudio")


@pytest.fixture(scope="module")
def settings(objects: tuple[Obj, ...], bridge: Obj) -> dict[str, str]:
    return workload_settings(objects, bridge)


def pod_of(name: str, workload: Obj) -> Pod:
    template = workload["spec"]["template"]
    return Pod(
        name,
        NAMESPACE,
        template["metadata"]["labels"],
        container_ports(template["spec"]["containers"]),
    )


def anneal_pods(objects: tuple[Obj, ...]) -> dict[str, Pod]:
    """The other pods of the namespace: the six services, the web app, Ray, Milvus."""
    found = {name: pod_of(name, w) for name, w in service_workloads(objects).items()}
    found["web"] = pod_of("web", app_workload(objects, "web"))
    for tpl in pod_templates(objects):
        if tpl.owner.startswith("RayCluster/"):
            labels = {**tpl.labels, "ray.io/cluster": "anneal-ray"}
            ports = container_ports(tpl.spec["containers"])
            found[tpl.owner] = Pod(tpl.owner, NAMESPACE, labels, ports)
    found["milvus"] = Pod(
        "milvus",
        NAMESPACE,
        {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "anneal"},
        {"milvus": ("TCP", 19530), "metrics": ("TCP", 9091)},
    )
    return found


def test_the_component_renders_and_validates(objects: tuple[Obj, ...], bridge: Obj) -> None:
    errors = schema_errors(objects)
    assert not errors, "\n".join(errors)
    for kind in ("Service", "ServiceMonitor", "NetworkPolicy"):
        named(objects, kind, BRIDGE)
    for obj in objects:
        if BRIDGE in obj["metadata"]["name"]:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]
    image = main_container(service_workloads(objects)["labels"])["image"]
    assert main_container(bridge)["image"] == image, "the services' image, as the overlay sets it"


def test_the_bridge_runs_once_and_never_twice(objects: tuple[Obj, ...], bridge: Obj) -> None:
    """Its SQLite cursor is on a ReadWriteOnce claim and a second bridge would import each
    round again: one replica, and Recreate, so an update stops the old pod first."""
    assert bridge["kind"] == "Deployment"
    assert bridge["spec"]["replicas"] == 1
    assert bridge["spec"]["strategy"] == {"type": "Recreate"}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] != bridge["metadata"]["name"]
    assert main_container(bridge)["command"] == ["python", "-m", "services.labelstudio"]


def test_ports_are_the_catalog_ports(objects: tuple[Obj, ...], bridge: Obj) -> None:
    container = main_container(bridge)
    want = {"http": LABELSTUDIO_PORT, "metrics": LABELSTUDIO_METRICS_PORT}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == want
    env = container_env(container)
    assert env["ANNEAL_PORT"]["value"] == str(LABELSTUDIO_PORT)
    assert env["ANNEAL_METRICS_PORT"]["value"] == str(LABELSTUDIO_METRICS_PORT)
    service = named(objects, "Service", BRIDGE)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == want
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(want)
    monitor = named(objects, "ServiceMonitor", BRIDGE)
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_probes_get_health_on_the_webhook_port(bridge: Obj) -> None:
    source = (REPO / "services" / "labelstudio" / "webhook_app.py").read_text()
    assert '@app.get("/health")' in source, "the bridge's health route moved"
    container = main_container(bridge)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"]) == ("/health", "http"), probe
        assert get.get("scheme", "HTTP") == "HTTP", f"{probe}: the bridge serves plain HTTP"


def test_the_pod_settings_are_the_bridges_and_it_starts_with_them(
    settings: dict[str, str],
) -> None:
    """Every variable set is one the bridge reads (its ``--help``: BridgeSettings.read, the
    first thing its main calls), and they make settings it accepts (its required ones)."""
    read = help_settings(BridgeSettings.read, "services.labelstudio")
    unread = sorted(set(settings) - set(read))
    assert not unread, f"the bridge's pod sets variables it does not read: {unread}"
    values = BridgeSettings.read([], settings)
    assert values.host == "0.0.0.0", "listen on the pod's address"
    assert not values.insecure, "TLS and a token to the services"
    assert values.images == "signed"
    for path in (values.state_db, values.image_link_key_file, values.tls_ca):
        assert path.startswith("/"), path


def test_the_bridge_dials_the_public_ports_as_the_web_app_does(
    objects: tuple[Obj, ...], settings: dict[str, str]
) -> None:
    web = workload_settings(objects, app_workload(objects, "web"))
    for name in ("labels", "coordinator"):
        variable = f"ANNEAL_{name.upper()}_ADDR"
        assert settings[variable] == f"{name}:{SERVICES[name].grpc_port}", variable
        assert settings[variable] == web[variable], variable


def test_the_webhook_url_is_the_bridges_service(settings: dict[str, str]) -> None:
    """Label Studio runs in another namespace: the Service's name with the overlay's namespace."""
    url = f"http://{BRIDGE}.{NAMESPACE}.svc:{LABELSTUDIO_PORT}/webhook"
    assert settings["ANNEAL_LABELSTUDIO_WEBHOOK_URL"] == url


def test_secrets_are_mounted_read_only_and_none_is_in_git(
    objects: tuple[Obj, ...], bridge: Obj, settings: dict[str, str]
) -> None:
    for variable, want in SECRET_FILES.items():
        assert secret_file(bridge, settings[variable]) == want, variable
    (ca,) = [
        v["secret"]
        for v in pod_volumes(bridge["spec"]["template"]["spec"]).values()
        if v.get("secret", {}).get("secretName") == "anneal-labels-tls"
    ]
    assert [item["key"] for item in ca["items"]] == ["ca.crt"], "the CA alone, not labels' key"
    rendered = {s["metadata"]["name"] for s in of_kind(objects, "Secret")}
    assert not rendered & {secret for secret, _ in SECRET_FILES.values()}, "created outside git"


def test_the_web_app_checks_links_with_the_bridges_key(
    objects: tuple[Obj, ...], bridge: Obj, settings: dict[str, str]
) -> None:
    web = app_workload(objects, "web")
    path = workload_settings(objects, web)["ANNEAL_IMAGE_LINK_KEY_FILE"]
    assert path == settings["ANNEAL_IMAGE_LINK_KEY_FILE"], "the same path in both pods"
    assert secret_file(web, path) == SECRET_FILES["ANNEAL_IMAGE_LINK_KEY_FILE"]


def test_the_state_file_is_on_the_bridges_claim(
    objects: tuple[Obj, ...], bridge: Obj, settings: dict[str, str]
) -> None:
    mount = mount_of(bridge, settings["ANNEAL_LABELSTUDIO_DB"])
    assert not mount.get("readOnly", False), "the bridge writes its SQLite file"
    volume = pod_volumes(bridge["spec"]["template"]["spec"])[mount["name"]]
    claim = named(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    for tpl in pod_templates(objects):
        if tpl.owner != f"Deployment/{bridge['metadata']['name']}":
            claims = {
                v["persistentVolumeClaim"]["claimName"]
                for v in pod_volumes(tpl.spec).values()
                if "persistentVolumeClaim" in v
            }
            assert claim["metadata"]["name"] not in claims, f"{tpl.owner} mounts the state"


def test_the_pod_runs_restricted_like_the_web_app(objects: tuple[Obj, ...], bridge: Obj) -> None:
    spec = bridge["spec"]["template"]["spec"]
    web = app_workload(objects, "web")["spec"]["template"]["spec"]
    assert spec["securityContext"] == web["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    container, web_container = main_container(bridge), web["containers"][0]
    assert container["securityContext"] == web_container["securityContext"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][bound].keys(), bound
    assert mount_of(bridge, "/tmp/x")["mountPath"] == "/tmp", "a writable /tmp"


def test_the_bridge_reaches_labels_and_coordinator_public_ports_only(
    objects: tuple[Obj, ...], bridge: Obj
) -> None:
    built = app_stubs("labelstudio")
    assert built, "services/labelstudio builds no stub: moved?"
    assert built <= {"labels", "coordinator"}, f"services/labelstudio builds {sorted(built)}"
    policies = Policies(objects)
    src = pod_of(BRIDGE, bridge)
    for name, dst in anneal_pods(objects).items():
        got = policies.reachable(src, dst)
        want = tcp(SERVICES[name].grpc_port) if name in {"labels", "coordinator"} else set()
        assert got == want, f"bridge -> {name}: {describe(got)}"
    assert policies.reachable(src, src) == frozenset(), "nor itself"
    assert policies.reachable(src, KUBE_DNS) == {("UDP", 53), ("TCP", 53)}


def test_the_bridge_reaches_label_studio_and_no_stranger(
    objects: tuple[Obj, ...], bridge: Obj
) -> None:
    policies = Policies(objects)
    src = pod_of(BRIDGE, bridge)
    assert policies.reachable(src, LABEL_STUDIO) == tcp(8080, 443)
    assert policies.reachable(src, STRANGER) == frozenset()


def test_label_studio_reaches_the_webhook_port_only(objects: tuple[Obj, ...], bridge: Obj) -> None:
    policies = Policies(objects)
    dst = pod_of(BRIDGE, bridge)
    assert policies.reachable(LABEL_STUDIO, dst) == tcp(LABELSTUDIO_PORT)
    for name, pod in anneal_pods(objects).items():
        got = policies.reachable(LABEL_STUDIO, pod)
        assert got == frozenset(), f"label-studio -> {name}: {describe(got)}"
    assert policies.reachable(STRANGER, dst) == frozenset()
    for name, pod in anneal_pods(objects).items():
        got = policies.reachable(pod, dst)
        assert got == frozenset(), f"{name} -> bridge: {describe(got)}"


def test_prometheus_scrapes_the_metrics_port_only(objects: tuple[Obj, ...], bridge: Obj) -> None:
    policies = Policies(objects)
    got = policies.reachable(PROMETHEUS, pod_of(BRIDGE, bridge))
    assert got == tcp(LABELSTUDIO_METRICS_PORT), describe(got)


def test_the_docs_say_how_to_create_each_secret() -> None:
    """The Secrets come from outside git (anneal-labels-tls from cert-manager or by hand)."""
    docs = (REPO / "docs" / "deploy.md").read_text().replace("\\\n", " ")
    for name, key in SECRET_FILES.values():
        if name == "anneal-labels-tls":
            continue
        commands = re.findall(rf"kubectl [^\n]*create secret generic {name}\b[^\n]*", docs)
        assert commands, f"docs/deploy.md does not show how to create Secret {name}"
        key_flag = re.compile(rf"--from-(?:file|literal)={re.escape(key)}\b")
        assert any(key_flag.search(c) for c in commands), f"no command creates {name}'s {key}"

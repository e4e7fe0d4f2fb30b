"""The custom resources (RayCluster, Milvus, ServiceMonitor, PrometheusRule, cert-manager's
Issuer and Certificate, the dashboard) hold the fields the deployment relies on. No schemas
ship for them, so the fields are checked one by one."""

from __future__ import annotations

import base64
import json
import re
import tomllib
from typing import Any

import promql_parser
from k8s_manifests import (
    OVERLAY_NAMESPACES,
    REPO,
    Obj,
    app_workload,
    container_env,
    main_container,
    named,
    of_kind,
    render,
    secret_file,
    service_workloads,
    settings_set,
    workload_settings,
)

QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)?$")
BINARY = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_bytes(text: str) -> int:
    match = QUANTITY.match(str(text))
    assert match, f"memory quantity {text!r} is not in the form the test understands"
    return int(match.group(1)) * BINARY[match.group(2)]


def pinned_version(package: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d.split("==", 1)[1] for d in deps if re.fullmatch(rf"{package}(\[.*\])?==.+", d)]
    assert len(pins) == 1, f"pyproject.toml should pin {package} exactly once"
    return pins[0]


def ray_groups(ray: Obj) -> list[tuple[str, Obj]]:
    groups = [("head", ray["spec"]["headGroupSpec"])]
    return groups + [(g["groupName"], g) for g in ray["spec"]["workerGroupSpecs"]]


def test_raycluster_matches_the_ray_clients(
    objects: tuple[Obj, ...], declared: dict[str, dict[str, str]]
) -> None:
    """Every service that reads ANNEAL_RAY_ADDRESS (embedding; the coordinator, for ingest and
    full rounds) joins the RayCluster through its head Service's client port: left empty, it
    would start a Ray of its own inside its pod."""
    ray = named(objects, "RayCluster", "anneal-ray")
    assert ray["apiVersion"] == "ray.io/v1"
    assert ray["spec"]["rayVersion"] == pinned_version("ray")
    head = ray["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", "the head only schedules"
    ports = {
        p["name"]: p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]
    }
    clients = {name for name, settings in declared.items() if "ANNEAL_RAY_ADDRESS" in settings}
    assert clients == {"embedding", "coordinator"}, clients
    workloads = service_workloads(objects)
    for name in clients:
        address = container_env(main_container(workloads[name]))["ANNEAL_RAY_ADDRESS"]["value"]
        assert address == f"ray://{ray['metadata']['name']}-head-svc:{ports['client']}", name


def test_ray_groups_have_shm_above_object_store(objects: tuple[Obj, ...]) -> None:
    ray = named(objects, "RayCluster", "anneal-ray")
    for group, spec in ray_groups(ray):
        params = spec["rayStartParams"]
        assert all(isinstance(v, str) for v in params.values()), f"{group}: rayStartParams"
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        shm = volumes[mounts["/dev/shm"]]["emptyDir"]
        assert shm["medium"] == "Memory", f"{group}: /dev/shm must be memory-backed"
        shm_bytes = quantity_bytes(shm["sizeLimit"])
        assert int(params["object-store-memory"]) < shm_bytes, f"{group}: shm below object store"
        limit = quantity_bytes(container["resources"]["limits"]["memory"])
        assert shm_bytes < limit, f"{group}: /dev/shm counts towards the memory limit"


def test_ray_worker_group_autoscales() -> None:
    for overlay in ("dev", "prod"):
        ray = named(render(overlay), "RayCluster", "anneal-ray")
        assert ray["spec"]["enableInTreeAutoscaling"] is True
        for group in ray["spec"]["workerGroupSpecs"]:
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    prod = named(render("prod"), "RayCluster", "anneal-ray")["spec"]["workerGroupSpecs"]
    assert all(g["maxReplicas"] > g["minReplicas"] for g in prod), "prod GPU workers autoscale"


def whole_cpus(quantity: str) -> int:
    """A CPU quantity in whole CPUs, as Ray counts a node's ("2"; "500m" is 0)."""
    text = str(quantity)
    return int(text[:-1]) // 1000 if text.endswith("m") else int(text)


def ray_worker_capacity(ray: Obj) -> tuple[int, int]:
    """CPUs and GPUs of the RayCluster's workers at their maxReplicas (the head has none)."""
    cpus = gpus = 0
    for group in ray["spec"]["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        per_worker = int(group["rayStartParams"].get("num-cpus", whole_cpus(limits["cpu"])))
        cpus += group["maxReplicas"] * per_worker
        gpus += group["maxReplicas"] * int(limits.get("nvidia.com/gpu", 0))
    return cpus, gpus


def test_the_coordinators_ray_work_fits_beside_embeddings_actors(
    objects: tuple[Obj, ...], declared: dict[str, dict[str, str]]
) -> None:
    """Beside embedding's actors (ANNEAL_EMBEDDING_WORKERS; 0, one per GPU at its start, counts
    as one: the workers' minReplicas is 1), the workers at maxReplicas hold the coordinator's Ray
    work of the moment: ANNEAL_EXTRACT_WORKERS ingest actors (a GPU each where there are GPUs,
    else a CPU), or on a CPU-only cluster a full round's ANNEAL_TRAIN_WORKERS Ray Train workers,
    then as many re-embedding actors (a CPU each; with GPUs a full round takes one per GPU).
    Ray Data's ingest actors live for an ingest only; ANNEAL_EXTRACT_ENGINE=actors keeps them
    until the coordinator stops, beside a full round's. Work beyond the slots would wait for
    them forever."""
    settings = settings_set(objects)

    def value(service: str, variable: str) -> int:
        return int(settings[service].get(variable, declared[service][variable]))

    cpus, gpus = ray_worker_capacity(named(objects, "RayCluster", "anneal-ray"))
    embedding = max(value("embedding", "ANNEAL_EMBEDDING_WORKERS"), 1)
    extract = value("coordinator", "ANNEAL_EXTRACT_WORKERS")
    assert extract > 0, "the coordinator ingests on the RayCluster"
    if gpus:
        assert embedding + extract <= gpus, f"{embedding} + {extract} GPU actors, {gpus} GPUs"
        return
    held = embedding * value("embedding", "ANNEAL_EMBEDDING_WORKER_CPUS")
    train = value("coordinator", "ANNEAL_TRAIN_WORKERS")
    engine = settings["coordinator"].get(
        "ANNEAL_EXTRACT_ENGINE", declared["coordinator"]["ANNEAL_EXTRACT_ENGINE"]
    )
    work = extract + train if engine == "actors" else max(extract, train)
    assert held + work <= cpus, f"{held} CPUs for embedding + {work} for the coordinator > {cpus}"


def gpus(container: Obj) -> Any:
    return container["resources"].get("limits", {}).get("nvidia.com/gpu")


def test_gpu_workers_only_in_prod() -> None:
    prod = named(render("prod"), "RayCluster", "anneal-ray")
    for group in prod["spec"]["workerGroupSpecs"]:
        container = group["template"]["spec"]["containers"][0]
        assert gpus(container) == "1", "one GPU per Ray worker"
        assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
        assert container["image"].endswith("-cuda"), "GPU workers run the CUDA image"
        tolerations = group["template"]["spec"].get("tolerations", [])
        assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    head = prod["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert gpus(head) is None, "the head is CPU only"
    dev = named(render("dev"), "RayCluster", "anneal-ray")
    assert "nvidia.com/gpu" not in json.dumps(dev), "dev is CPU only"


def test_milvus_mode_per_overlay_and_uri() -> None:
    for overlay, mode in (("dev", "standalone"), ("prod", "cluster")):
        objects = render(overlay)
        milvus = named(objects, "Milvus", "anneal")
        assert milvus["apiVersion"] == "milvus.io/v1beta1"
        assert milvus["spec"]["mode"] == mode
        components = milvus["spec"]["components"]
        assert ("standalone" in components) == (mode == "standalone")
        if mode == "cluster":
            assert components["proxy"]["replicas"] >= 2
            assert components["queryNode"]["replicas"] >= 2
        secret = of_kind(objects, "Secret")[0]
        uri = base64.b64decode(secret["data"]["ANNEAL_MILVUS_URI"]).decode()
        assert uri == f"http://{milvus['metadata']['name']}-milvus:19530"
        search = main_container(service_workloads(objects)["search"])
        ref = container_env(search)["ANNEAL_MILVUS_URI"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": "ANNEAL_MILVUS_URI"}


def test_a_service_monitor_scrapes_each_service(objects: tuple[Obj, ...], catalog: Any) -> None:
    for name, spec in catalog.items():
        monitor = named(objects, "ServiceMonitor", name)
        service = named(objects, "Service", name)
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["endpoints"]
        ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
        assert ports[endpoint["port"]] == spec.metrics_port
        assert endpoint["path"] == "/metrics"


REQUIRED_ALERTS = {
    "AnnealIndexRebuildFailed",
    "AnnealIndexRebuildStuck",
    "AnnealRetrieveLatencyHigh",
    "AnnealNoEmbeddingWorkerReady",
    "AnnealLabelStoreWriteErrors",
    "AnnealServiceDown",
    "AnnealServiceCrashLooping",
}


def test_prometheus_rule_has_the_alerts(objects: tuple[Obj, ...]) -> None:
    rule = named(objects, "PrometheusRule", "anneal")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {a["alert"] for a in alerts} >= REQUIRED_ALERTS
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        if "for" in alert:
            promql_parser.parse_duration(alert["for"])


REQUIRED_PANELS = ("Retrieve latency", "Retrieve rate by code", "Index version", "Round state")


def test_dashboard_shows_the_required_panels(objects: tuple[Obj, ...]) -> None:
    config = named(objects, "ConfigMap", "anneal-grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = config["data"].values()
    dashboard = json.loads(text)
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in (*REQUIRED_PANELS, "mAP@k per round"):
        assert any(t.startswith(wanted) for t in titles), f"no panel {wanted!r}"
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration_s(text: str) -> int:
    """Seconds of a Go duration as cert-manager takes it (``2160h``, ``90m``, ``1h30m``)."""
    match = DURATION.match(text)
    assert match and text, f"duration {text!r} is not in the form the test understands"
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def issuer(objects: tuple[Obj, ...], ref: Obj) -> Obj:
    """The Issuer an issuerRef names (a namespaced Issuer of cert-manager, not a ClusterIssuer)."""
    assert ref.get("group", "cert-manager.io") == "cert-manager.io", ref
    assert ref.get("kind", "Issuer") == "Issuer", ref
    return named(objects, "Issuer", ref["name"])


def assert_key_and_lifetime(certificate: Obj) -> None:
    name = certificate["metadata"]["name"]
    key = certificate["spec"]["privateKey"]
    assert (key["algorithm"], key["size"]) == ("ECDSA", 256), name
    assert key.get("rotationPolicy") == "Always", f"{name}: a renewal makes a new key"
    lifetime = duration_s(certificate["spec"]["duration"])
    renew = duration_s(certificate["spec"]["renewBefore"])
    assert 0 < renew < lifetime, f"{name}: renewBefore within the duration"


def test_certificates_chain_to_one_ca(objects: tuple[Obj, ...]) -> None:
    certificates = of_kind(objects, "Certificate")
    assert all(c["apiVersion"] == "cert-manager.io/v1" for c in certificates)
    (ca,) = [c for c in certificates if c["spec"].get("isCA")]
    assert issuer(objects, ca["spec"]["issuerRef"])["spec"] == {"selfSigned": {}}
    assert_key_and_lifetime(ca)
    ca_issuers = [i for i in of_kind(objects, "Issuer") if "ca" in i["spec"]]
    assert [i["spec"]["ca"]["secretName"] for i in ca_issuers] == [ca["spec"]["secretName"]]
    for certificate in certificates:
        if certificate is not ca:
            signer = issuer(objects, certificate["spec"]["issuerRef"])
            assert signer is ca_issuers[0], f"{certificate['metadata']['name']}: not the CA"


def test_each_service_has_a_certificate_for_its_identity(
    overlay: str, objects: tuple[Obj, ...], catalog: Any
) -> None:
    """The Secret a service's pod mounts is a Certificate's, for the name callers dial and the
    SPIFFE identity the services check on mutual TLS."""
    namespace = OVERLAY_NAMESPACES[overlay]
    settings = settings_set(objects)
    workloads = service_workloads(objects)
    by_secret = {c["spec"]["secretName"]: c for c in of_kind(objects, "Certificate")}
    dialled: dict[str, set[str]] = {}  # service -> the host names its callers dial
    web = workload_settings(objects, app_workload(objects, "web"))
    for values in [*settings.values(), web]:
        for variable, address in values.items():
            if variable.endswith("_ADDR"):
                callee = variable.removeprefix("ANNEAL_").removesuffix("_ADDR").lower()
                dialled.setdefault(callee, set()).add(address.rsplit(":", 1)[0])
    for name, spec in catalog.items():
        secret, _ = secret_file(workloads[name], settings[name]["ANNEAL_TLS_CERT"])
        assert secret in by_secret, f"{name} mounts {secret}, which no Certificate fills"
        cert = by_secret[secret]["spec"]
        assert not cert.get("isCA"), name
        assert cert["uris"] == [spec.spiffe_id], name
        assert {"server auth", "client auth"} <= set(cert["usages"]), name
        names = set(cert["dnsNames"])
        assert {name, f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"} <= names
        assert not any("NAMESPACE" in n for n in names), f"{name}: namespace not filled in"
        assert dialled.get(name, set()) <= names, f"callers dial {dialled[name]}, not a SAN"
        assert_key_and_lifetime(by_secret[secret])


def test_the_web_app_has_a_server_certificate(overlay: str, objects: tuple[Obj, ...]) -> None:
    """For the name an Ingress or a port-forward reaches it by, from the namespace's CA. No
    SPIFFE identity or client auth: it calls the services with people's tokens."""
    namespace = OVERLAY_NAMESPACES[overlay]
    web = app_workload(objects, "web")
    secret, _ = secret_file(web, workload_settings(objects, web)["ANNEAL_TLS_CERT"])
    by_secret = {c["spec"]["secretName"]: c for c in of_kind(objects, "Certificate")}
    assert secret in by_secret, f"web mounts {secret}, which no Certificate fills"
    cert = by_secret[secret]["spec"]
    assert not cert.get("isCA")
    assert "server auth" in cert["usages"] and "client auth" not in cert["usages"]
    assert "uris" not in cert
    assert set(cert["dnsNames"]) == {
        "web",
        f"web.{namespace}.svc",
        f"web.{namespace}.svc.cluster.local",
    }
    assert_key_and_lifetime(by_secret[secret])


def test_milvus_requires_authentication() -> None:
    for overlay in ("dev", "prod"):
        milvus = named(render(overlay), "Milvus", "anneal")
        security = milvus["spec"]["config"]["common"]["security"]
        assert security["authorizationEnabled"] is True, overlay

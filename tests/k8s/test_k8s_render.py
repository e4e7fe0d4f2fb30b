"""Every overlay renders with kubectl's kustomize and holds each part of the deployment once."""

from __future__ import annotations

from k8s_manifests import OVERLAY_NAMESPACES, Obj, named, of_kind, render, service_workloads

CLUSTER_SCOPED = {"Namespace"}


def test_overlay_renders_unique_named_objects(overlay: str, objects: tuple[Obj, ...]) -> None:
    assert objects, f"k8s/overlays/{overlay} rendered nothing"
    keys = [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), f"duplicate objects in {overlay}"


def test_everything_lives_in_the_overlay_namespace(overlay: str, objects: tuple[Obj, ...]) -> None:
    namespace = OVERLAY_NAMESPACES[overlay]
    named(objects, "Namespace", namespace)
    stray = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] not in CLUSTER_SCOPED and o["metadata"].get("namespace") != namespace
    ]
    assert not stray, f"objects outside namespace {namespace}: {stray}"


def test_each_service_has_workload_service_monitor_and_policy(
    objects: tuple[Obj, ...], catalog: dict[str, object]
) -> None:
    assert sorted(service_workloads(objects)) == sorted(catalog)
    for name in catalog:
        for kind in ("Service", "ServiceMonitor", "NetworkPolicy"):
            named(objects, kind, name)


def test_platform_parts_are_present(objects: tuple[Obj, ...]) -> None:
    named(objects, "Milvus", "anneal")
    named(objects, "RayCluster", "anneal-ray")
    named(objects, "PrometheusRule", "anneal")
    named(objects, "ConfigMap", "anneal-grafana-dashboard")
    assert len(of_kind(objects, "Secret")) == 1
    assert any(
        c["metadata"]["name"].startswith("anneal-settings-") for c in of_kind(objects, "ConfigMap")
    )


def test_prod_scales_retrieval_and_budgets_disruptions() -> None:
    prod = render("prod")
    hpa = named(prod, "HorizontalPodAutoscaler", "retrieval")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "retrieval",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    budget = named(prod, "PodDisruptionBudget", "retrieval")
    assert budget["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    named(prod, "PodDisruptionBudget", "ray-workers")
    dev = render("dev")
    assert not of_kind(dev, "HorizontalPodAutoscaler")
    assert not of_kind(dev, "PodDisruptionBudget")

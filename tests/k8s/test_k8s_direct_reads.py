"""The opt-in component direct-milvus-reads: retrieval reads the Milvus server itself.

Rendered on top of the prod overlay (a kustomization in a temporary folder). Without the
component search alone reaches Milvus (test_k8s_security, test_k8s_credentials); with it
retrieval does too, on the client port only, as the reader user of its own Secret.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from k8s_manifests import (
    K8S,
    Obj,
    render_dir,
    secret_file,
    service_workloads,
    settings_set,
)
from network_policies import Pod, Policies, container_ports, tcp

MILVUS = Pod(
    "milvus",
    "anneal",
    {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "anneal"},
    {"milvus": ("TCP", 19530), "metrics": ("TCP", 9091)},
)


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Obj, ...]:
    folder = tmp_path_factory.mktemp("direct-reads")
    prod = os.path.relpath(K8S / "overlays" / "prod", folder)
    component = os.path.relpath(K8S / "components" / "direct-milvus-reads", folder)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{prod}]\ncomponents: [{component}]\n"
    )
    return render_dir(Path(folder))


def pods(objects: tuple[Obj, ...]) -> dict[str, Pod]:
    found = {}
    for name, workload in service_workloads(objects).items():
        template = workload["spec"]["template"]
        found[name] = Pod(
            name,
            "anneal",
            template["metadata"]["labels"],
            container_ports(template["spec"]["containers"]),
        )
    return found


def test_retrieval_and_search_alone_reach_milvus_on_its_client_port(
    objects: tuple[Obj, ...],
) -> None:
    policies = Policies(objects)
    for name, pod in pods(objects).items():
        got = policies.reachable(pod, MILVUS)
        assert got == (tcp(19530) if name in {"search", "retrieval"} else frozenset()), name


def test_retrieval_reads_the_milvus_uri_and_its_own_reader_token(
    objects: tuple[Obj, ...],
) -> None:
    settings = settings_set(objects)
    retrieval = service_workloads(objects)["retrieval"]
    token = secret_file(retrieval, settings["retrieval"]["ANNEAL_MILVUS_TOKEN_FILE"])
    assert token == ("anneal-milvus-reader-token", "token")
    assert settings["retrieval"]["ANNEAL_MILVUS_URI"] == settings["search"]["ANNEAL_MILVUS_URI"]

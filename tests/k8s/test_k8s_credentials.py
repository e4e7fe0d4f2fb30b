"""Every service gets its own certificate and the token file from Secrets, mounted so that an
updated Secret reaches the running pod; search gets its Milvus credentials the same way; no
credential is in git; TLS is on everywhere and reflection only in dev."""

from __future__ import annotations

import re
from typing import Any

import pytest
from k8s_manifests import (
    REPO,
    Obj,
    app_workload,
    named,
    of_kind,
    pod_templates,
    pod_volumes,
    render,
    secret_file,
    service_workloads,
    settings_set,
    workload_settings,
)

# Where each TLS setting points: the keys of a kubernetes.io/tls Secret as cert-manager writes
# it (and as docs/deploy.md says to create it without cert-manager).
TLS_FILES = {"ANNEAL_TLS_CERT": "tls.crt", "ANNEAL_TLS_KEY": "tls.key", "ANNEAL_TLS_CA": "ca.crt"}
TOKENS_SECRET = ("anneal-tokens", "tokens.json")
MILVUS_TOKEN_SECRET = ("anneal-milvus-token", "token")
MILVUS_ROOT_SECRET = ("anneal-milvus-root", "password")
# Secrets holding credentials: created by the operator of the cluster (docs/deploy.md), never
# rendered from the repository.
LABELS_BACKUP_TOKEN_SECRET = ("anneal-labels-backup-token", "token")
EXTERNAL_SECRETS = dict(
    [TOKENS_SECRET, MILVUS_TOKEN_SECRET, MILVUS_ROOT_SECRET, LABELS_BACKUP_TOKEN_SECRET]
)
# The settings of the access model (issue 7) that the manifests rely on by name.
SECURITY_SETTINGS = {
    "ANNEAL_INTERNAL_PORT",
    "ANNEAL_TLS_CERT",
    "ANNEAL_TLS_KEY",
    "ANNEAL_TLS_CA",
    "ANNEAL_TOKENS_FILE",
    "ANNEAL_TOKEN_RELOAD_S",
    "ANNEAL_SERVICE_TOKEN_FILE",
    "ANNEAL_INSECURE",
    "ANNEAL_REFLECTION",
}


def test_each_service_reads_its_own_certificate(objects: tuple[Obj, ...], catalog: Any) -> None:
    settings = settings_set(objects)
    workloads = service_workloads(objects)
    for name in catalog:
        for variable, key in TLS_FILES.items():
            found = secret_file(workloads[name], settings[name][variable])
            assert found == (f"anneal-{name}-tls", key), f"{name}: {variable}"


def test_the_token_file_is_the_tokens_secret(objects: tuple[Obj, ...], catalog: Any) -> None:
    """All six services have RPCs for callers with tokens (status reads at least)."""
    settings = settings_set(objects)
    workloads = service_workloads(objects)
    for name in catalog:
        found = secret_file(workloads[name], settings[name]["ANNEAL_TOKENS_FILE"])
        assert found == TOKENS_SECRET, name


def test_web_serves_with_its_own_certificate_and_reads_the_tokens(
    objects: tuple[Obj, ...],
) -> None:
    """HTTPS with its own certificate (so its session cookies are Secure), the CA of that
    Secret to verify the services, and the token file to check sign-ins."""
    web = app_workload(objects, "web")
    settings = workload_settings(objects, web)
    for variable, key in TLS_FILES.items():
        assert secret_file(web, settings[variable]) == ("anneal-web-tls", key), variable
    assert secret_file(web, settings["ANNEAL_TOKENS_FILE"]) == TOKENS_SECRET
    assert settings.get("ANNEAL_INSECURE", "false") == "false"
    assert "ANNEAL_REFLECTION" not in settings, "web serves no gRPC"
    assert secrets_mounted(objects)["anneal-web-tls"] == {f"Deployment/{web['metadata']['name']}"}


def test_no_secret_or_config_is_mounted_by_sub_path(objects: tuple[Obj, ...]) -> None:
    """A subPath mount never sees an update of its Secret or ConfigMap: a revoked token or a
    renewed certificate would not reach the pod."""
    for tpl in pod_templates(objects):
        volumes = pod_volumes(tpl.spec)
        for container in tpl.spec["containers"]:
            for mount in container.get("volumeMounts", []):
                volume = volumes.get(mount["name"], {})  # else a volumeClaimTemplate
                if {"secret", "configMap", "projected"} & set(volume):
                    assert "subPath" not in mount, f"{tpl.owner}: {mount['mountPath']}"
                    assert "subPathExpr" not in mount, f"{tpl.owner}: {mount['mountPath']}"


def secrets_mounted(objects: tuple[Obj, ...]) -> dict[str, set[str]]:
    """Secret name -> owners of the pod templates that mount it."""
    found: dict[str, set[str]] = {}
    for tpl in pod_templates(objects):
        for volume in tpl.spec.get("volumes", []):
            if "secret" in volume:
                found.setdefault(volume["secret"]["secretName"], set()).add(tpl.owner)
    return found


def test_search_alone_gets_the_milvus_credentials(objects: tuple[Obj, ...]) -> None:
    settings = settings_set(objects)["search"]
    search = service_workloads(objects)["search"]
    assert secret_file(search, settings["ANNEAL_MILVUS_TOKEN_FILE"]) == MILVUS_TOKEN_SECRET
    assert secrets_mounted(objects)[MILVUS_TOKEN_SECRET[0]] == {
        f"Deployment/{search['metadata']['name']}"
    }
    assert "@" not in settings["ANNEAL_MILVUS_URI"], "the URI carries no user or password"


def secret_keys_mounted(objects: tuple[Obj, ...], secret: str) -> dict[str, set[str] | None]:
    """Owner -> the keys of ``secret`` its pod template mounts (None: all of them)."""
    found: dict[str, set[str] | None] = {}
    for tpl in pod_templates(objects):
        for volume in tpl.spec.get("volumes", []):
            if volume.get("secret", {}).get("secretName") == secret:
                items = volume["secret"].get("items")
                found[tpl.owner] = None if items is None else {item["key"] for item in items}
    return found


def test_only_its_own_pod_mounts_a_service_certificate(
    objects: tuple[Obj, ...], catalog: Any
) -> None:
    """Another pod may mount the CA certificate of a service's Secret (``ca.crt`` alone, to
    verify the service: the label backup CronJob), never its certificate or key."""
    workloads = service_workloads(objects)
    for name in catalog:
        owner = f"{workloads[name]['kind']}/{workloads[name]['metadata']['name']}"
        mounted = secret_keys_mounted(objects, f"anneal-{name}-tls")
        assert owner in mounted, name
        others = {pod: keys for pod, keys in mounted.items() if pod != owner}
        assert all(keys == {"ca.crt"} for keys in others.values()), f"{name}: {others}"


def test_no_pod_mounts_the_ca_key(objects: tuple[Obj, ...]) -> None:
    (ca,) = [c for c in of_kind(objects, "Certificate") if c["spec"].get("isCA")]
    assert ca["spec"]["secretName"] not in secrets_mounted(objects)


def test_no_credential_is_rendered_from_the_repository(objects: tuple[Obj, ...]) -> None:
    rendered = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    assert not set(EXTERNAL_SECRETS) & set(rendered), "credentials come from outside git"
    for secret in rendered.values():
        for key in secret.get("data", {}):
            assert not re.search(r"token|password|key|crt", key, re.I), f"{key} in git"
    mounted = secrets_mounted(objects)
    assert {TOKENS_SECRET[0], MILVUS_TOKEN_SECRET[0]} <= set(mounted)


def test_the_docs_say_how_to_create_each_secret() -> None:
    docs = (REPO / "docs" / "deploy.md").read_text().replace("\\\n", " ")
    for name, key in EXTERNAL_SECRETS.items():
        commands = re.findall(rf"kubectl [^\n]*create secret generic {name}\b[^\n]*", docs)
        assert commands, f"docs/deploy.md does not show how to create Secret {name}"
        key_flag = re.compile(rf"--from-(?:file|literal)=(?:\S*/)?{re.escape(key)}\b")
        assert any(key_flag.search(c) for c in commands), f"no command creates {name}'s {key}"
    for key in TLS_FILES.values():
        assert f"--from-file={key}=" in docs, f"docs: a certificate Secret by hand needs {key}"


def test_tls_is_on_and_services_use_certificates(objects: tuple[Obj, ...]) -> None:
    for name, settings in settings_set(objects).items():
        assert settings.get("ANNEAL_INSECURE", "false") == "false", name
        assert "ANNEAL_SERVICE_TOKEN_FILE" not in settings, f"{name}: TLS on, no service token"
        assert set(TLS_FILES) <= set(settings), name


@pytest.mark.parametrize(("overlay_name", "value"), [("dev", "true"), ("prod", "false")])
def test_reflection_only_in_dev(overlay_name: str, value: str) -> None:
    for name, settings in settings_set(render(overlay_name)).items():
        assert settings.get("ANNEAL_REFLECTION") == value, f"{overlay_name}: {name}"


def test_the_services_read_the_security_settings(declared: dict[str, dict[str, str]]) -> None:
    """The names the manifests and these checks rely on are the services' own settings.

    Depends on the access-model code (issue 7): each service's ``--help`` must list them.
    """
    for name, settings in declared.items():
        missing = SECURITY_SETTINGS - set(settings)
        if name == "search":
            missing |= {"ANNEAL_MILVUS_TOKEN_FILE"} - set(settings)
        assert not missing, f"services.{name} --help does not list {sorted(missing)}"


def test_milvus_root_password_comes_from_its_secret() -> None:
    for overlay_name in ("dev", "prod"):
        milvus = named(render(overlay_name), "Milvus", "anneal")
        env = {e["name"]: e for e in milvus["spec"]["components"].get("env", [])}
        ref = env["COMMON_SECURITY_DEFAULTROOTPASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == MILVUS_ROOT_SECRET, overlay_name

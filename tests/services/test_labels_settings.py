"""Settings of the label service: flag over environment over default, bad values refused."""

from __future__ import annotations

import importlib

import pytest

from services.common.catalog import SERVICES
from services.labels.settings import LabelSettings

INSECURE = {"ANNEAL_INSECURE": "true"}  # for the tests of other settings than security's


def read(environ: dict[str, str], argv: list[str] | None = None) -> LabelSettings:
    return LabelSettings.read([] if argv is None else argv, environ)


def test_defaults_come_from_the_catalog() -> None:
    values = read({"ANNEAL_TOKENS_FILE": "tokens.json"})
    assert (values.host, values.port, values.metrics_port, values.log_level) == (
        "127.0.0.1",
        50055,
        9105,
        "INFO",
    )
    assert values.security.internal_port == 51055
    assert values.address == "127.0.0.1:50055"
    assert values.label_db == "state/labels.db"


def test_without_any_credential_setting_the_service_refuses_to_start() -> None:
    with pytest.raises(SystemExit, match=r"no credentials configured.*ANNEAL_INSECURE"):
        read({})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ANNEAL_TLS_CERT": "c.pem", "ANNEAL_TOKENS_FILE": "t.json"}, "all of ANNEAL_TLS_CERT"),
        ({"ANNEAL_INSECURE": "true", "ANNEAL_TOKENS_FILE": "t.json"}, "turns TLS and tokens off"),
    ],
)
def test_contradicting_security_settings_are_refused(
    environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(SystemExit, match=expected):
        read(environ)


def test_environment_then_flags_win() -> None:
    environ = {
        **INSECURE,
        "ANNEAL_PORT": "6000",
        "ANNEAL_LABEL_DB": "/tmp/x.db",
        "ANNEAL_LOG_LEVEL": "debug",
    }
    values = read(environ)
    assert (values.port, values.label_db, values.log_level) == (6000, "/tmp/x.db", "DEBUG")
    values = read(environ, ["--port", "7000", "--label-db", "/tmp/y.db"])
    assert (values.port, values.label_db) == (7000, "/tmp/y.db")


@pytest.mark.parametrize(
    ("environ", "argv", "message"),
    [
        ({"ANNEAL_PORT": "http"}, [], "--port: invalid"),
        ({}, ["--metrics-port", "70000"], "outside 0..65535"),
        ({"ANNEAL_LOG_LEVEL": "loud"}, [], "unknown log level"),
    ],
)
def test_bad_values_stop_at_start_up(
    environ: dict[str, str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        read({**INSECURE, **environ}, argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_catalog_matches_the_generated_protos(name: str) -> None:
    spec = SERVICES[name]
    pb2 = importlib.import_module(f"annealpb.{name}.v1.{name}_pb2")
    assert spec.command == ("python", "-m", f"services.{name}")
    assert pb2.DESCRIPTOR.package == spec.proto_package
    assert pb2.DESCRIPTOR.services_by_name[spec.grpc_service].full_name == spec.full_service_name

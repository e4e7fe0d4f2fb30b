"""Bearer tokens: stored salted and hashed (never in plaintext), refused when unknown, revoked
or expired, and a change of the token file takes effect on a running server within the reload
interval, without a restart."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import grpc
import pytest

from annealpb.labels.v1 import labels_pb2, labels_pb2_grpc
from services.cli.main import main
from services.labels.server import create_server
from services.labels.store import LabelStore
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.server_security import ServerSecurity
from services.security.token_verifier import TokenVerifier
from services.security.tokens import TokenError, create_token, read_tokens, revoke_tokens

RELOAD_S = 0.2


def test_the_file_keeps_a_salted_hash_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token, record = create_token(path, "alice", Role.ANNOTATOR)
    _again, other = create_token(path, "bob", Role.ANNOTATOR)
    text = path.read_text()
    secret = token.split(".")[2]
    assert secret not in text and token not in text
    assert record.salt != other.salt and len(record.sha256) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r.name for r in read_tokens(path)] == ["alice", "bob"]


def test_verify_accepts_the_token_and_refuses_lookalikes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token, record = create_token(path, "alice", Role.READER)
    verifier = TokenVerifier(path)
    assert verifier.verify(token) == record
    prefix, token_id, secret = token.split(".")
    for bad in (f"{prefix}.{token_id}.{secret}x", f"{prefix}.{'0' * 16}.{secret}", "not-a-token"):
        with pytest.raises(TokenError):
            verifier.verify(bad)


def test_expired_and_revoked_tokens_are_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    old, _ = create_token(path, "old", Role.READER, ttl_s=60, now=time.time() - 120)
    gone, _ = create_token(path, "gone", Role.READER)
    revoke_tokens(path, name="gone")
    verifier = TokenVerifier(path)
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(old)
    with pytest.raises(TokenError, match="revoked"):
        verifier.verify(gone)


def test_an_unreadable_token_file_refuses_every_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token, _ = create_token(path, "alice", Role.READER)
    verifier = TokenVerifier(path, reload_interval_s=0.01)
    verifier.verify(token)
    path.write_text("{ half written")
    time.sleep(0.05)
    with pytest.raises(TokenError, match="unreadable"):
        verifier.verify(token)


def _labels_server(serve, tmp_path: Path, local: LocalSecurity) -> tuple[grpc.Channel, str]:
    security = ServerSecurity(
        tls=local.service_tls("labels"), tokens=TokenVerifier(local.tokens_file, RELOAD_S)
    )
    built = create_server("127.0.0.1:0", LabelStore(tmp_path / "labels.db"), security=security)
    serve(built)
    return built[0], f"127.0.0.1:{built[1]}"


@pytest.mark.integration
def test_a_revoked_token_stops_working_within_the_reload_interval(serve, tmp_path: Path) -> None:
    local = LocalSecurity.of(tmp_path / "state")
    local.ensure(["127.0.0.1"])
    _server, address = _labels_server(serve, tmp_path, local)
    token, record = create_token(local.tokens_file, "carol", Role.READER)
    stub = labels_pb2_grpc.LabelServiceStub(
        ChannelSecurity(ca=local.ca.read_bytes(), token=token).channel(address)
    )
    request = labels_pb2.GetRoundProgressRequest(round=1)
    time.sleep(2 * RELOAD_S)  # the new token is picked up without a restart
    with pytest.raises(grpc.RpcError) as info:
        stub.GetRoundProgress(request, timeout=5)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND  # admitted; there is no round 1
    revoke_tokens(local.tokens_file, token_id=record.id)
    time.sleep(2 * RELOAD_S)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetRoundProgress(request, timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (info.value.details() or "")


@pytest.mark.integration
def test_without_tls_services_call_with_service_tokens(serve, tmp_path: Path) -> None:
    """TLS off (e.g. a mesh encrypts): one plaintext port, tokens for clients and services."""
    path = tmp_path / "tokens.json"
    selection, _ = create_token(path, "selection", Role.SERVICE)
    operator, _ = create_token(path, "ops", Role.OPERATOR)
    security = ServerSecurity(tls=None, tokens=TokenVerifier(path))
    built = create_server("127.0.0.1:0", LabelStore(tmp_path / "labels.db"), security=security)
    serve(built)
    address = f"127.0.0.1:{built[1]}"
    pairs = [labels_pb2.ImagePair(image_a="a", image_b="b")]
    request = labels_pb2.OpenRoundRequest(round=1, pairs=pairs)
    as_selection = labels_pb2_grpc.LabelServiceStub(
        ChannelSecurity(token=selection).channel(address)
    )
    assert as_selection.OpenRound(request, timeout=5).created
    as_operator = labels_pb2_grpc.LabelServiceStub(ChannelSecurity(token=operator).channel(address))
    with pytest.raises(grpc.RpcError) as info:
        as_operator.OpenRound(request, timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_local_security_is_made_once_with_private_files(tmp_path: Path) -> None:
    local = LocalSecurity.of(tmp_path / "state")
    made = local.ensure(["127.0.0.1"])
    assert len(made) == 5  # the CA, a token for each client role, the image link key
    tokens = {role: local.role_token(role).read_text() for role in (Role.READER, Role.OPERATOR)}
    ca, link_key = local.ca.read_bytes(), local.image_link_key.read_bytes()
    assert local.ensure(["127.0.0.1"]) == []  # a restart reuses them
    assert local.ca.read_bytes() == ca and local.image_link_key.read_bytes() == link_key
    assert len(link_key) == 32
    assert {r: local.role_token(r).read_text() for r in tokens} == tokens
    secrets = [local.tokens_file, local.folder / "ca-key.pem", local.role_token(Role.READER)]
    secrets += [local.certificate("search")[1], local.image_link_key]
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_token_commands_create_list_rotate_and_revoke(capsys, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    where = ["--tokens-file", str(path)]
    assert main(["token", "create", "--role", "annotator", "--name", "alice", *where]) == 0
    first = capsys.readouterr().out.strip()
    assert TokenVerifier(path).verify(first).name == "alice"
    assert main(["token", "rotate", "--name", "alice", *where]) == 0
    second = capsys.readouterr().out.strip()
    verifier = TokenVerifier(path)
    assert verifier.verify(second).role is Role.ANNOTATOR
    with pytest.raises(TokenError, match="revoked"):
        verifier.verify(first)
    assert main(["token", "list", *where]) == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "revoked" in listing and "active" in listing
    assert first not in listing and second not in listing
    assert main(["token", "revoke", "--name", "alice", *where]) == 0
    data = json.loads(path.read_text())
    assert all(entry["revoked_at"] for entry in data["tokens"])


def test_a_labelling_service_token_is_created_by_its_role_name(capsys, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    argv = ["token", "create", "--role", "labelling-service", "--name", "labelstudio"]
    assert main([*argv, "--tokens-file", str(path)]) == 0
    record = TokenVerifier(path).verify(capsys.readouterr().out.strip())
    assert (record.name, record.role) == ("labelstudio", Role.LABELLING_SERVICE)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["token", "create", "--role", "admin", "--name", "x"], "unknown role 'admin'"),
        (
            ["token", "create", "--role", "annotator", "--name", "labelstudio:alice"],
            "contains ':', which is reserved for the people a labelling service answers for",
        ),
        (
            ["token", "create", "--role", "reader", "--name", "x", "--expires-in", "soon"],
            "duration",
        ),
        (["token", "revoke", "--name", "nobody"], "no token file"),
    ],
)
def test_token_command_mistakes_are_one_line(capsys, tmp_path: Path, argv, expected) -> None:
    code = main([*argv, "--tokens-file", str(tmp_path / "tokens.json")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("anneal: ") and err.count("\n") == 1
    assert expected in err

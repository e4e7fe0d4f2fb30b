"""The ``anneal`` service commands: bad input gives one line on stderr and a non-zero exit;
round start / label --from / round close / round status work against real services."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from round_helpers import Stack, class_of, wait_for

from annealpb.coordinator.v1 import coordinator_pb2 as pb
from annealpb.coordinator.v1 import coordinator_pb2_grpc
from annealpb.selection.v1 import selection_pb2, selection_pb2_grpc
from services.cli.main import main


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("anneal: ") and err.count("\n") == 1, err
    return code, err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["query"], "exactly one of --image"),
        (["query", "--id", "a.png", "-k", "0"], "-k"),
        (["query", "--image", "/no/such/file.png"], "not a readable file"),
        (["round", "start", "--budget", "0"], "--budget"),
        (["serve", "--archive", "/no/such/folder"], "not a folder"),
        (["no-such-command"], "No such command"),
        (["experiment", "--resume"], "need --run NAME"),  # a core command's exit code survives
    ],
)
def test_usage_errors_are_one_line_with_exit_2(capsys, argv: list[str], expected: str) -> None:
    code, err = one_line_error(capsys, argv)
    assert code == 2
    assert expected in err


def test_bad_answer_file_names_the_line(capsys, tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    answers.write_text("pair_id,similar\n0,yes\n1,perhaps\n")
    code, err = one_line_error(capsys, ["label", "--from", str(answers), "--round", "1"])
    assert code == 1 and "answers.csv:3" in err and "perhaps" in err


def test_unreachable_service_is_one_line_with_its_code(capsys, tmp_path: Path) -> None:
    token = ["--token", "anl.0123456789abcdef.secret", "--state-dir", str(tmp_path)]
    argv = ["round", "status", "--coordinator", closed_address(), *token]
    code, err = one_line_error(capsys, argv)
    assert code == 1 and "UNAVAILABLE" in err


def test_no_token_is_one_line_saying_how_to_get_one(capsys, tmp_path: Path) -> None:
    argv = ["query", "--id", "a.png", "--state-dir", str(tmp_path)]
    code, err = one_line_error(capsys, argv)
    assert code == 1 and "no token" in err and "anneal token create --role reader" in err


@pytest.fixture
def stack(serve, tmp_path: Path) -> Iterator[Stack]:
    built = Stack(serve, tmp_path)
    yield built
    built.close()


@pytest.mark.integration
def test_round_start_label_from_file_close_and_status(capsys, stack: Stack, tmp_path) -> None:
    channel = stack.start_coordinator()
    coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    wait_for(coordinator, lambda r: r.serving_index_version == 1)
    target = f"127.0.0.1:{stack.server_port}"
    local = ["--state-dir", str(stack.state_dir)]  # the CA and the tokens of each role
    start = ["round", "start", "--strategy", "random", "--budget", "4", "--no-close-when-answered"]
    assert main([*start, "--mode", "fast", "--coordinator", target, *local]) != 0
    printed = capsys.readouterr()
    assert "unknown training mode 'fast'; choose one of head, full" in printed.out + printed.err
    assert main([*start, "--coordinator", target, *local]) == 0
    assert "round 1 (head mode) is collecting" in capsys.readouterr().out
    pending = selection_pb2_grpc.SelectionServiceStub(stack.selection).ListPendingPairs(
        selection_pb2.ListPendingPairsRequest(round=1)
    )
    answers = tmp_path / "answers.csv"
    rows = [
        f"{p.image_a},{p.image_b},{int(class_of(p.image_a) == class_of(p.image_b))}"
        for p in pending.pairs
    ]
    answers.write_text("image_a,image_b,similar\n" + "\n".join(rows[:3]) + "\n")
    addresses = ["--coordinator", target, "--labels", stack.labels_address, *local]
    assert main(["label", "--from", str(answers), *addresses]) == 0
    assert "3 answers stored" in capsys.readouterr().out
    assert main(["label", "--from", str(answers), *addresses]) == 0  # resubmitting is a no-op
    assert "0 answers stored, 3 already stored" in capsys.readouterr().out
    wait_for(coordinator, lambda r: r.round.labelled_pairs == 3)
    assert main(["round", "close", "--coordinator", target, *local]) == 0
    done = wait_for(
        coordinator, lambda r: r.round.state in (pb.ROUND_STATE_DONE, pb.ROUND_STATE_FAILED)
    )
    assert done.round.state == pb.ROUND_STATE_DONE, done.round.error
    capsys.readouterr()
    assert main(["round", "status", "--coordinator", target, *local]) == 0
    out = capsys.readouterr().out
    assert "done" in out and "round-1" in out

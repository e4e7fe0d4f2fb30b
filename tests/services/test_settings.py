"""The one settings mechanism: flag over variable over default, one-line refusals, and the CLI
setting exactly the variables the services read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.cli.system_config import SystemConfig
from services.common.setting import Setting, port_number, positive, read_settings, settings_of, text
from services.common.settings import embeddings_folder
from services.coordinator.settings import CoordinatorSettings
from services.embedding.settings import EmbeddingSettings
from services.labels.settings import LabelSettings
from services.retrieval.settings import RetrievalSettings
from services.search.settings import SearchSettings
from services.selection.settings import SelectionSettings
from services.web.settings import WebSettings

NAME = Setting("--name", "T_NAME", "anon", "a name", text)
SIZE = Setting("--size", "T_SIZE", 3, "a size", positive)
PORT = Setting("--port", "T_PORT", 0, "a port", port_number)
TAGS: Setting[dict[str, int]] = Setting("--tags", "T_TAGS", {}, "tags", lambda v: {v: 1})


@dataclass(frozen=True)
class Inner:
    port: int = PORT.field()


@dataclass(frozen=True)
class Outer:
    name: str = NAME.field()
    size: int = SIZE.field()
    inner: Inner = Inner()
    tags: dict[str, int] = TAGS.field()  # noqa: RUF009 (.field() copies it per instance)

    def __post_init__(self) -> None:
        if self.name == "nobody" and self.size > 1:
            raise ValueError("nobody has a size above 1 (T_NAME, T_SIZE)")


def read(argv: list[str], environ: Mapping[str, str], defaults: dict[str, int] | None = None):
    return read_settings(Outer, argv, environ, "test", "a test", defaults)


def test_a_flag_wins_over_its_variable_which_wins_over_the_default() -> None:
    assert read([], {}) == Outer("anon", 3, Inner(0), {})
    assert read([], {"T_SIZE": "5", "T_PORT": "80"}) == Outer("anon", 5, Inner(80), {})
    assert read(["--size", "7"], {"T_SIZE": "5"}).size == 7
    assert read([], {}, defaults={"T_PORT": 9000}).inner.port == 9000  # a catalog default


@pytest.mark.parametrize(
    ("argv", "environ", "line"),
    [
        ([], {"T_SIZE": "0"}, "error: --size: invalid value '0' in T_SIZE: expected a positive"),
        (
            ["--port", "x"],
            {},
            "error: --port: invalid value 'x' (its variable: T_PORT): expected a",
        ),
        (["--colour", "red"], {}, "error: unrecognized arguments: --colour red (see --help)"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_the_flag_and_the_variable(
    argv: list[str], environ: dict[str, str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        read(argv, environ)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err


def test_contradicting_values_stop_with_the_dataclass_message() -> None:
    with pytest.raises(SystemExit, match=r"^error: nobody has a size above 1 \(T_NAME, T_SIZE\)$"):
        read(["--name", "nobody"], {})


def test_help_names_each_variable_and_the_default_in_force(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        read(["--help"], {}, defaults={"T_PORT": 9000})
    assert stopped.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(env T_SIZE; default 3)" in out and "(env T_PORT; default 9000)" in out


def test_a_mutable_default_is_a_fresh_copy_per_reading() -> None:
    first = read([], {})
    first.tags["x"] = 1
    assert read([], {}).tags == {}


def test_a_field_that_is_not_a_setting_is_refused() -> None:
    @dataclass(frozen=True)
    class Loose:
        name: str = field(default="x")

    with pytest.raises(TypeError, match=r"Loose\.name is neither a Setting"):
        read_settings(Loose, [], {}, "test", "a test")


SERVICE_SETTINGS = (
    RetrievalSettings,
    EmbeddingSettings,
    SearchSettings,
    SelectionSettings,
    LabelSettings,
    CoordinatorSettings,
)


def test_every_variable_anneal_serve_sets_is_one_a_service_reads(tmp_path: Path) -> None:
    read_by_services = {s.env for kind in SERVICE_SETTINGS for s in settings_of(kind)}
    config = SystemConfig(archive=tmp_path, state_dir=tmp_path, insecure=True)
    for kind in SERVICE_SETTINGS:
        unread = set(config.environment(kind.service)) - read_by_services
        assert not unread, f"anneal serve sets {sorted(unread)} for {kind.service}; none reads it"
    web = {s.env for s in settings_of(WebSettings)}
    assert set(config.web_environment()) <= web


def test_the_coordinator_and_selection_share_one_embeddings_folder(tmp_path: Path) -> None:
    """The coordinator writes each index version's embeddings where selection reads them: under
    ``anneal serve``, and by default for two processes on one state folder."""
    config = SystemConfig(archive=tmp_path, state_dir=tmp_path / "state", insecure=True)
    folders = set()
    for kind in (CoordinatorSettings, SelectionSettings):
        served = kind.read([], config.environment(kind.service))
        alone = {"ANNEAL_STATE_DIR": str(tmp_path / "state"), "ANNEAL_INSECURE": "true"}
        default = kind.read([], alone)
        folders.add(embeddings_folder(served.embeddings_dir, served.state_dir))
        folders.add(embeddings_folder(default.embeddings_dir, default.state_dir))
    assert folders == {tmp_path / "state" / "coordinator" / "embeddings"}


def test_each_variable_has_one_flag_in_every_reader() -> None:
    flags: dict[str, str] = {}
    for kind in (*SERVICE_SETTINGS, WebSettings):
        for setting in settings_of(kind):
            assert flags.setdefault(setting.env, setting.flag) == setting.flag, setting.env

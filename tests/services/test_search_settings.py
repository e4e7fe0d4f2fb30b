"""The search service's index settings: by-size defaults, how each value is read, and bad values
stopping with one line that names the flag and the variable."""

from __future__ import annotations

import pytest

from services.search.index_choice import AnnChoice
from services.search.settings import SearchSettings

INSECURE = {"ANNEAL_INSECURE": "true"}


def test_by_default_the_index_is_chosen_by_size_with_the_documented_values() -> None:
    config = SearchSettings.read([], INSECURE).index_config()
    assert config.index_type == ""
    assert config.ann == AnnChoice(100_000, "IVF_FLAT", {}, {})
    assert config.ann.plan().build_params == {"nlist": 1024}
    assert config.ann.plan().search_params == {"nprobe": 32}
    assert (config.recall_floor, config.rows_in_memory_max_bytes) == (0.95, 256 * 1024 * 1024)
    assert config.plan(99_999).index_type == "FLAT"
    assert config.plan(100_000).index_type == "IVF_FLAT"


def test_each_index_setting_is_read_from_its_flag_or_variable() -> None:
    environ = {
        **INSECURE,
        "ANNEAL_INDEX_ANN_TYPE": "hnsw",
        "ANNEAL_INDEX_ANN_MIN_ROWS": "5000",
        "ANNEAL_INDEX_ANN_SEARCH_PARAMS": '{"ef": 128}',
        "ANNEAL_INDEX_RECALL_FLOOR": "0.9",
        "ANNEAL_INDEX_ROWS_IN_MEMORY_MIB": "3",
    }
    argv = ["--ann-build-params", '{"M": 8}', "--index-type", ""]
    config = SearchSettings.read(argv, environ).index_config()
    assert config.ann == AnnChoice(5000, "HNSW", {"M": 8}, {"ef": 128})
    assert (config.recall_floor, config.rows_in_memory_max_bytes) == (0.9, 3 * 1024 * 1024)
    named = SearchSettings.read(["--index-type", "ivf_flat"], INSECURE).index_config()
    assert (named.index_type, named.plan(1).index_type) == ("IVF_FLAT", "IVF_FLAT")


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        ({"ANNEAL_INDEX_RECALL_FLOOR": "1.5"}, "error: --recall-floor: invalid value '1.5' in"),
        ({"ANNEAL_INDEX_ANN_TYPE": "FLAT"}, "error: --ann-type: invalid value 'FLAT' in"),
        ({"ANNEAL_INDEX_ANN_MIN_ROWS": "0"}, "error: --ann-min-rows: invalid value '0' in"),
        (
            {"ANNEAL_INDEX_ROWS_IN_MEMORY_MIB": "-1"},
            "error: --rows-in-memory-mib: invalid value '-1' in",
        ),
        (
            {"ANNEAL_INDEX_ANN_SEARCH_PARAMS": "[1]"},
            "error: --ann-search-params: invalid value '[1]' in",
        ),
        ({"ANNEAL_INDEX_TYPE": "IVF FLAT"}, "error: --index-type: invalid value 'IVF FLAT' in"),
        ({"ANNEAL_INDEX_METRIC": "cosine2"}, "error: --metric: invalid value 'cosine2' in"),
    ],
)
def test_a_bad_index_setting_stops_with_one_line(
    environ: dict[str, str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        SearchSettings.read([], {**INSECURE, **environ})
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err

"""ModelVersion: the one writer and reader of model version strings."""

import pytest

from anneal.models.model_version import ModelVersion


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("pretrained", ModelVersion.pretrained()),
        ("round-0-d128", ModelVersion.start(128)),
        ("round-3", ModelVersion.trained(3)),
        ("round-12-d64", ModelVersion(12, 64)),
        ("round-0", ModelVersion(0)),  # the embedding service's built-in name before
        ("pretrained-d1280", ModelVersion(None, 1280)),
    ],
)
def test_names_written_before_parse_and_format_back_unchanged(
    text: str, version: ModelVersion
) -> None:
    assert ModelVersion.parse(text) == version
    assert str(version) == text


def test_the_two_untrained_models_have_different_names() -> None:
    pretrained, start = ModelVersion.pretrained(), ModelVersion.start(128)
    assert pretrained.is_pretrained and not start.is_pretrained
    assert (str(pretrained), str(start)) == ("pretrained", "round-0-d128")
    assert ModelVersion.start(64) != start  # another head dimension is another model


@pytest.mark.parametrize(
    "text",
    [
        "",
        "round",
        "round-",
        "round-x",
        "Round-1",
        "round--1",
        "round-03",
        "round-1-d0",
        "round-1-128",
        "pretrained-3",
        " round-1",
        "round-1\n",
    ],
)
def test_a_malformed_name_is_a_value_error_that_shows_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not 'pretrained', 'round-<N>' or 'round-<N>-d<dim>'"):
        ModelVersion.parse(text)


def test_a_long_malformed_name_is_shown_cut_short() -> None:
    with pytest.raises(ValueError) as info:
        ModelVersion.parse("x" * 10_000)
    assert len(str(info.value)) < 200 and "xxx..." in str(info.value)


def test_constructors_refuse_what_names_no_model() -> None:
    with pytest.raises(ValueError, match="round is 1 or more"):
        ModelVersion.trained(0)
    with pytest.raises(ValueError, match="round is 0 or more"):
        ModelVersion(-1)
    with pytest.raises(ValueError, match="dimension is 1 or more"):
        ModelVersion.start(0)

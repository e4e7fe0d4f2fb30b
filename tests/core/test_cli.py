from pathlib import Path

from typer.testing import CliRunner

from anneal.cli.app import app

runner = CliRunner()


def test_empty_archive_is_a_one_line_error(tmp_path: Path):
    result = runner.invoke(
        app, ["experiment", "--archive", str(tmp_path), "--results", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "holds no JPEG, PNG or TIFF" in result.output
    assert "Traceback" not in result.output


def test_unknown_strategy_exit_code(tiny_archive: Path, tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "experiment",
            "--archive",
            str(tiny_archive),
            "--strategies",
            "nope",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown strategy 'nope'" in result.output


def test_resume_needs_run_name(tmp_path: Path):
    result = runner.invoke(app, ["experiment", "--resume"])
    assert result.exit_code == 2 and "--resume and --report need --run" in result.output


def test_unknown_calibration_is_a_one_line_error(tiny_archive: Path, tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "experiment",
            "--archive",
            str(tiny_archive),
            "--calibration",
            "platt",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown calibration 'platt'; choose from none, temperature" in result.output
    assert "Traceback" not in result.output


def test_report_of_a_run_that_never_finished_is_a_one_line_error(tmp_path: Path):
    result = runner.invoke(
        app, ["experiment", "--run", "never", "--report", "--results", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "has no rounds.json" in result.output and "Traceback" not in result.output

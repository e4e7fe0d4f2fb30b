"""Core commands: run active-learning experiments on a labelled archive."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from anneal.cli.console import output_console
from anneal.cli.progress import RichProgress
from anneal.experiment.config import ExperimentConfig
from anneal.experiment.runner import rewrite_report, run_experiment
from anneal.training.config import TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
DEFAULT_ARCHIVE = Path("../shared/data/ucmerced")


@app.callback()
def root() -> None:
    """ANNEAL: content-based retrieval for remote-sensing archives, improved by pair labels."""


def fail(message: str, code: int = 2) -> None:
    """One line on stderr and a non-zero exit."""
    output_console(stderr=True).print(
        f"[bold red]anneal:[/] {message}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@app.command()
def experiment(
    archive: Annotated[Path, typer.Option(help="Folder of class subfolders of images.")] = (
        DEFAULT_ARCHIVE
    ),
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies.")] = (
        "mgue,bcgue,random"
    ),
    budget: Annotated[int, typer.Option(help="Pairs labelled per round.")] = 100,
    rounds: Annotated[int, typer.Option(help="Active-learning rounds.")] = 10,
    seeds: Annotated[int, typer.Option(help="Repetitions with seeds 0..N-1.")] = 3,
    mode: Annotated[str, typer.Option(help="head (frozen backbone) or full.")] = "head",
    backbone: Annotated[str, typer.Option(help="efficientnet-lite0, resnet18, resnet50.")] = (
        "efficientnet-lite0"
    ),
    weights: Annotated[
        Path | None, typer.Option(help="Local backbone weights (state_dict) file.")
    ] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding size (default: features).")] = None,
    baseline_rounds: Annotated[
        int, typer.Option(help="Rounds of the random and uniform baselines (0: --rounds).")
    ] = 0,
    class_budget: Annotated[
        int, typer.Option(help="Images per round of the class-label baselines (0: --budget).")
    ] = 0,
    head_hidden: Annotated[
        int, typer.Option(help="Hidden units of the head's residual branch (0: linear).")
    ] = ExperimentConfig.head_hidden,
    transitivity: Annotated[
        bool, typer.Option(help="Train on implied labels too.")
    ] = ExperimentConfig.transitivity,
    implied_pairs: Annotated[
        int, typer.Option(help="Implied pairs sampled per round (0: all).")
    ] = ExperimentConfig.implied_pairs,
    pseudo_labels: Annotated[
        int, typer.Option(help="Confident pool pairs trained on as pseudo-labels (0: off).")
    ] = ExperimentConfig.pseudo_labels,
    warm_start: Annotated[
        bool, typer.Option(help="Train each round from the previous round's model.")
    ] = ExperimentConfig.warm_start,
    epochs: Annotated[int, typer.Option(help="Training epochs per round.")] = TrainConfig.epochs,
    max_steps: Annotated[
        int, typer.Option(help="Cap on the training steps of a round (0: no cap).")
    ] = TrainConfig.max_steps,
    loss: Annotated[
        str, typer.Option(help="Pair loss: contrastive, multi-similarity, circle.")
    ] = TrainConfig.loss,
    pos_margin: Annotated[
        float, typer.Option(help="Similar pairs are pulled in beyond this distance.")
    ] = TrainConfig.pos_margin,
    neg_margin: Annotated[
        float, typer.Option(help="Dissimilar pairs are pushed out below this distance.")
    ] = TrainConfig.neg_margin,
    noise: Annotated[str, typer.Option(help="Simulated annotator noise: flip or boundary.")] = (
        "flip"
    ),
    flip_rate: Annotated[float, typer.Option(help="Mean share of answers flipped.")] = 0.0,
    annotators_per_pair: Annotated[
        int, typer.Option(help="Annotators answering each pair (majority vote).")
    ] = 1,
    recheck_fraction: Annotated[
        float, typer.Option(help="Share of each round's budget spent re-asking suspect answers.")
    ] = 0.0,
    calibration: Annotated[
        str, typer.Option(help="BCGUE calibration: none, temperature, sigmoid, isotonic.")
    ] = "none",
    stop_agreement: Annotated[
        float, typer.Option(help="Stopping rule: top-k agreement that counts as stable.")
    ] = ExperimentConfig.stop_agreement,
    stop_patience: Annotated[
        int, typer.Option(help="Stopping rule: stable rounds in a row before stopping.")
    ] = ExperimentConfig.stop_patience,
    seconds_per_pair: Annotated[
        float, typer.Option(help="Cost model: annotator seconds per pair answer.")
    ] = ExperimentConfig.seconds_per_pair,
    seconds_per_class_label: Annotated[
        float, typer.Option(help="Cost model: seconds per class label (an assumption).")
    ] = ExperimentConfig.seconds_per_class_label,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    run: Annotated[str | None, typer.Option(help="Run name (folder under --results).")] = None,
    results: Annotated[Path, typer.Option(help="Where runs are written.")] = Path("results"),
    cache_dir: Annotated[Path, typer.Option(help="Backbone feature store folder.")] = Path(
        ".cache/features"
    ),
    resume: Annotated[bool, typer.Option(help="Continue the named run.")] = False,
    report: Annotated[
        bool, typer.Option(help="Rewrite the named finished run's summary and plots.")
    ] = False,
) -> None:
    """Simulated ANNEAL experiment: learning curves of strategies against labelled pairs."""
    if (resume or report) and run is None:
        fail("--resume and --report need --run NAME of the run")
    if report:
        assert run is not None
        try:
            folder = rewrite_report(results / run).folder
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            fail(str(exc).strip("'\""))
            return
        output_console().print(f"report rewritten in {folder}")
        return
    cfg = ExperimentConfig(
        archive=str(archive),
        strategies=[s.strip() for s in strategies.split(",") if s.strip()],
        budget=budget,
        rounds=rounds,
        baseline_rounds=baseline_rounds,
        class_budget=class_budget,
        seeds=seeds,
        mode=mode,
        backbone=backbone,
        weights=str(weights) if weights is not None else None,
        dim=dim,
        head_hidden=head_hidden,
        transitivity=transitivity,
        implied_pairs=implied_pairs,
        pseudo_labels=pseudo_labels,
        warm_start=warm_start,
        noise=noise,
        flip_rate=flip_rate,
        annotators_per_pair=annotators_per_pair,
        recheck_fraction=recheck_fraction,
        calibration=calibration,
        stop_agreement=stop_agreement,
        stop_patience=stop_patience,
        seconds_per_pair=seconds_per_pair,
        seconds_per_class_label=seconds_per_class_label,
        device=device,
        cache_dir=str(cache_dir),
        train=TrainConfig(
            epochs=epochs,
            max_steps=max_steps,
            loss=loss,
            pos_margin=pos_margin,
            neg_margin=neg_margin,
        ),
    )
    out = results / (run or datetime.now().strftime("%Y%m%d-%H%M%S"))
    console = output_console()
    try:
        with RichProgress(console) as progress:
            result = run_experiment(cfg, out, resume=resume, progress=progress)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        fail(str(exc).strip("'\""))
        return
    console.print((result.folder / "summary.md").read_text())
    console.print(f"results in {result.folder}")

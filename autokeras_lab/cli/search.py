"""``search EXPERIMENT``: run a search, print the leaderboard and where things went."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autokeras_lab.cli._types import (
    add_runs_dir,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from autokeras_lab.metrics import METRICS
from autokeras_lab.tuners import SAMPLERS
from autokeras_lab.types import AUTO_TASK, TASK_CHOICES

TOP = 10


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "search",
        help="run a hyperparameter search for an experiment",
        description=(
            "Run a search: Ray Tune trains trials in parallel, Optuna (TPE) proposes "
            "them and ASHA stops the weak ones. Flags override the experiment file."
        ),
    )
    parser.add_argument(
        "experiment", nargs="?",
        help="experiment name (experiments/NAME.toml) or a .toml path; omit with --csv",
    )
    parser.add_argument("--csv", type=Path, help="search on this CSV file instead")
    parser.add_argument("--target", help="with --csv: the column to predict")
    parser.add_argument("--task", choices=TASK_CHOICES,
                        default=None, help="with --csv: the task (default: inferred)")
    parser.add_argument("--name", help="with --csv: the experiment name (default: file stem)")
    parser.add_argument("--space", metavar="NAME|PATH",
                        help="the search space: a name `autokeras_lab spaces` lists, or a "
                        ".py module (default: the experiment's, else plr_mlp)")
    parser.add_argument("--trials", type=positive_int, help="most trials to run")
    parser.add_argument("--max-epochs", type=positive_int,
                        help="most epochs per trial (default: the experiment's, else 300, "
                        "fewer where an epoch is over 8,192 rows)")
    parser.add_argument("--epoch-rows", type=positive_int, metavar="N",
                        help="most rows an epoch trains on (default: every row up to "
                        "50,000, else 16,384): the first rungs then judge models on a "
                        "sample of the rows")
    parser.add_argument("--time-budget", type=positive_float, metavar="SECONDS",
                        help="wall-clock limit of the whole search")
    parser.add_argument("--seed", type=non_negative_int, help="seed of proposals and trials")
    parser.add_argument("--sampler", choices=tuple(SAMPLERS),
                        help="the Optuna sampler that proposes configurations (default: the "
                        "experiment's, else tpe)")
    parser.add_argument("--metric", choices=tuple(METRICS),
                        help="the validation metric to optimise and rank on (default: the "
                        "experiment's); its direction follows it")
    parser.add_argument("--concurrency", type=positive_int, help="most trials at once")
    parser.add_argument("--cv", type=positive_int, metavar="K",
                        help="K-fold cross-validation inside each trial (small tables)")
    parser.add_argument("--ensemble-size", type=non_negative_int, metavar="N",
                        help="rounds of greedy ensemble selection over the finished trials "
                        "(default 25; 0: hand over the best trial alone)")
    parser.add_argument("--no-pack", dest="pack", action="store_const", const=False,
                        help="train a trial's fold models one after another instead of "
                        "packed into one graph call (slower; for diagnosis)")
    parser.add_argument("--no-refit", dest="refit", action="store_const", const=False,
                        help="hand over the chosen trials' models as the search trained them, "
                        "instead of refitting them with the held-out test rows added")
    parser.add_argument("--max-latency-ms", type=positive_float, metavar="MS",
                        help="hand over only a model that predicts one row within MS "
                        "milliseconds on this machine's CPU (ensembles stay within it)")
    parser.add_argument("--max-params", type=positive_int, metavar="N",
                        help="hand over only a model of at most N parameters")
    parser.add_argument("--max-consecutive-failures", type=positive_int, metavar="N",
                        help="stop the search after N failed trials in a row (default 5)")
    parser.add_argument(
        "--resume", nargs="?", const="", metavar="SEARCH_ID",
        help="continue an interrupted search (the experiment's latest, or SEARCH_ID): "
        "finished trials are kept, running ones continue from their checkpoints",
    )
    add_runs_dir(parser)
    cluster = parser.add_argument_group("where trials run")
    cluster.add_argument(
        "--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
        help="run the trials on this existing Ray cluster instead of a local runtime",
    )
    cluster.add_argument(
        "--storage", metavar="PATH|URI",
        help="where trial checkpoints go (default: under --runs-dir); on a multi-node "
        "cluster a shared filesystem path or a cloud URI such as s3://bucket/prefix",
    )
    cluster.add_argument(
        "--dashboard", action="store_true",
        help="start the local runtime with the Ray dashboard on 127.0.0.1 (token "
        "authentication: `ray get-auth-token` prints the token)",
    )
    cluster.add_argument(
        "--gpus-per-trial", type=non_negative_float, metavar="X",
        help="GPUs each trial asks Ray for; fractions pack trials (0.25: four per GPU)",
    )
    parser.add_argument("--warm-start", action="store_true",
                        help="seed the search with earlier searches of this experiment")
    parser.add_argument("--warm-start-from", metavar="SEARCH_ID",
                        help="seed the search with this earlier search only")
    tracking = parser.add_argument_group("experiment tracking")
    tracking.add_argument(
        "--mlflow", metavar="URI",
        help="copy the search to MLflow: a parent run, a nested run per trial, the report "
        "and the model (URI: http://HOST:PORT of an `mlflow server`, file:///FOLDER, ...)",
    )
    tracking.add_argument("--register", metavar="NAME",
                          help="with --mlflow: register the model under this name")
    parser.add_argument("--quiet", action="store_true", help="no progress view")
    parser.add_argument("--wide", action="store_true",
                        help="every leaderboard column at the end, however wide (default: 100 "
                        "characters; `leaderboard --format` gives the rest too)")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write the HTML report at the end")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.cluster import ClusterOptions
    from autokeras_lab.report import TABLE_WIDTH, format_leaderboard
    from autokeras_lab.search import resume_search, run_search
    from autokeras_lab.types import SearchStatus

    out = None if args.quiet else sys.stderr
    cluster = ClusterOptions(
        address=args.address, storage=args.storage, dashboard=args.dashboard,
        gpus_per_trial=args.gpus_per_trial or 0.0,
    )
    if args.resume is not None:
        name = _check_resume_flags(args)
        result = resume_search(
            runs_dir=args.runs_dir, experiment=name,
            search_id=args.resume or None, cluster=cluster, out=out,
        )
    else:
        experiment = _experiment(args).with_overrides(
            trials=args.trials,
            max_epochs=args.max_epochs,
            epoch_rows=args.epoch_rows,
            time_budget_s=args.time_budget,
            seed=args.seed,
            metric=args.metric,
            sampler=args.sampler,
            concurrency=args.concurrency,
            cv=args.cv,
            max_consecutive_failures=args.max_consecutive_failures,
            ensemble_size=args.ensemble_size,
            pack=args.pack,
            refit=args.refit,
            max_latency_ms=args.max_latency_ms,
            max_params=args.max_params,
            space=args.space,
            mlflow=args.mlflow,
            register=args.register,
        )
        result = run_search(
            experiment, runs_dir=args.runs_dir, cluster=cluster, out=out,
            command=args.command_line, warm_start=args.warm_start_from or args.warm_start,
        )
    print(f"\nLeaderboard of search {result.search_id} (top {min(TOP, len(result.trials))} "
          f"of {len(result.trials)} trials, {result.wall_seconds:.0f} s):")
    print(format_leaderboard(result.trials, fmt="table", metric=result.metric,
                             ensembles=result.ensembles, top=TOP,
                             width=None if args.wide else TABLE_WIDTH))
    if result.export_dir is None:
        print("\nbest model:  none (no model fits the inference budget: see above)")
    else:
        print(f"\nbest model:  {result.export_dir}" + _what_best_is(result))
    print(f"leaderboard: {result.leaderboard_path}")
    if not args.no_report:
        from autokeras_lab.report import write_report

        report = result.report or write_report(args.runs_dir, result.experiment,
                                               search_id=result.search_id)
        print(f"report:      {report}")
    if result.mlflow_run:
        print(f"MLflow run:  {result.mlflow_run}")
    if result.mlflow_model:
        print(f"MLflow model: {result.mlflow_model} (mlflow.pyfunc.load_model takes it)")
    if result.status is SearchStatus.INTERRUPTED:
        from autokeras_lab.search import resume_command

        print(
            f"search interrupted after {len(result.trials)} finished trials: they are on "
            "the leaderboard and the best was exported; resume the search with:\n  "
            + resume_command(result.search_id, args.runs_dir),
            file=sys.stderr,
        )
        return 130
    return 0


def _what_best_is(result: Any) -> str:
    ensemble = result.ensemble
    if ensemble is None:
        return ""
    if not ensemble.exported:
        return " (the best trial; no ensemble of trials beat it on validation)"
    return (f" (an ensemble of {len(ensemble.members)} trials: validation "
            f"{result.metric} {ensemble.best_val:.4g} against {ensemble.single_val:.4g} "
            "for the best trial alone)")


def _check_resume_flags(args: argparse.Namespace) -> str | None:
    """Accept the search's own command with ``--resume`` added: a flag may repeat the
    search's stored setting, but not change it. Returns the experiment's name."""
    from autokeras_lab.config import experiment_from_settings
    from autokeras_lab.errors import UserError
    from autokeras_lab.search import find_resumable

    if args.experiment is None and args.csv is None and not args.resume:
        raise UserError("--resume needs an experiment name or a search id: "
                        "search EXPERIMENT --resume, or search --resume SEARCH_ID")
    name = None
    if args.experiment is not None or args.csv is not None:
        name = _experiment(args).name
    _, record = find_resumable(args.runs_dir, name, args.resume or None)
    stored = experiment_from_settings(record.settings)
    cluster, warm = record.cluster, record.warm_start
    settings = {
        "csv": (str(args.csv.absolute()) if args.csv else None, stored.csv),
        "target": (args.target, stored.target),
        "task": (args.task, stored.task),
        "space": (args.space, stored.space),
        "trials": (args.trials, stored.budget.trials),
        "max_epochs": (args.max_epochs, stored.budget.max_epochs),
        "epoch_rows": (args.epoch_rows, stored.budget.epoch_rows),
        "time_budget": (args.time_budget, stored.budget.time_budget_s),
        "seed": (args.seed, stored.seed),
        "sampler": (args.sampler, stored.sampler.name),
        "metric": (args.metric, stored.metric),
        "concurrency": (args.concurrency, stored.budget.concurrency),
        "cv": (args.cv, stored.cv),
        "ensemble_size": (args.ensemble_size, stored.ensemble_size),
        "no_pack": (None if args.pack is None else True, None if stored.pack else True),
        "no_refit": (None if args.refit is None else True, None if stored.refit else True),
        "max_latency_ms": (args.max_latency_ms, stored.max_latency_ms),
        "max_params": (args.max_params, stored.max_params),
        "max_consecutive_failures": (args.max_consecutive_failures,
                                     stored.budget.max_consecutive_failures),
        "storage": (args.storage, cluster.storage),
        "gpus_per_trial": (args.gpus_per_trial, cluster.gpus_per_trial),
        "warm_start": (args.warm_start or None, True if warm else None),
        "mlflow": (args.mlflow, stored.tracking.mlflow or None),
        "register": (args.register, stored.tracking.register or None),
        "warm_start_from": (args.warm_start_from,
                            warm.searches[0] if warm and warm.searches else None),
    }
    for flag, (given, kept) in settings.items():
        if given is not None and given != kept:
            shown = "not set" if kept is None else repr(kept)
            raise UserError(
                f"--{flag.replace('_', '-')} {given} cannot change search "
                f"{record.search_id} being resumed: it continues with its own setting "
                f"({shown}); drop the flag or give the stored value"
            )
    return record.experiment


def _experiment(args: argparse.Namespace) -> Any:
    from autokeras_lab.config import csv_experiment, load_experiment
    from autokeras_lab.errors import UserError

    if args.csv is None:
        if args.experiment is None:
            raise UserError("say what to search: an experiment name, or --csv FILE --target COLUMN")
        for flag in ("target", "task", "name"):
            if getattr(args, flag) is not None:
                raise UserError(f"--{flag} goes with --csv; the experiment file sets it")
        return load_experiment(args.experiment)
    if args.experiment is not None:
        raise UserError(
            f"give an experiment ({args.experiment!r}) or --csv, not both; "
            "to name a CSV search use --name"
        )
    if not args.target:
        raise UserError(f"--csv {args.csv} needs --target COLUMN (the column to predict)")
    return csv_experiment(args.csv, target=args.target, task=args.task or AUTO_TASK,
                          name=args.name)

"""Train and test xLSTM4Rec (or any RecBole model) with RecBole's log, metrics and checkpoints,
search its hyperparameters, or recommend from a checkpoint. The installed command is ``recbole-xlstm``;
``python run_recbole_xlstm.py`` in a checkout runs the same.

    recbole-xlstm --model=xLSTM4Rec --dataset=ml-100k [--config_files="a.yaml b.yaml"] [--key=value ...]
    recbole-xlstm --model=xLSTM4Rec --dataset=ml-100k --resume_from=saved/xLSTM4Rec-....pth --epochs=100
    recbole-xlstm --model=xLSTM4Rec --dataset=ml-100k --tune=hyper.test --num_samples=20
    recbole-xlstm --model=xLSTM4Rec --dataset=ml-100k --tune=hyper.test --tuner=recbole --algo=random
    recbole-xlstm --recommend --checkpoint=saved/xLSTM4Rec-....pth --user=196 --topk=10
    recbole-xlstm --recommend --checkpoint=saved/xLSTM4Rec-....pth --history=50,172,133
    recbole-xlstm --recommend --checkpoint=saved/xLSTM4Rec-....pth --users=all --output=top10.csv

Any other ``--key=value`` is a RecBole property (RecBole's Config reads it from the command line);
in a search it holds for every trial.

An expected error (a bad property, a missing file or dataset, an unknown model, item or checkpoint) prints one
``error: ...`` line and exits with status 2; ``--debug`` (or RECBOLE_XLSTM_DEBUG=1) shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from recbole_xlstm.property_names import RUN_FLAGS, TUNE_FLAGS
from recbole_xlstm.quick_start import run

DEBUG_VARIABLE = "RECBOLE_XLSTM_DEBUG"


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with the command's one error style: ``error: ...`` and status 2, without the usage lines
    (``--help`` shows them)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # no abbreviations: RecBole reads its own --key=value properties from the same command line
    parser = ArgumentParser(
        prog="recbole-xlstm",  # the same name however it was started (run_recbole_xlstm.py, python -m, the command)
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--model", "-m", type=str, default="xLSTM4Rec", help="model name")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name")
    parser.add_argument("--config_files", type=str, default=None, help="config files, separated by spaces")
    parser.add_argument("--nproc", type=int, default=1, help="processes (GPUs) on this machine")
    parser.add_argument("--ip", type=str, default="localhost", help="the ip of the master node")
    parser.add_argument("--port", type=str, default="5678", help="the port of the master node")
    parser.add_argument("--world_size", type=int, default=-1, help="total processes over all machines")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank offset of this machine")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an expected error instead of one line (or set {DEBUG_VARIABLE}=1)",
    )
    parser.add_argument(
        "--resume_from",
        type=str,
        default=None,
        metavar="CHECKPOINT",
        help="go on training from a checkpoint a run saved (its best epoch), with the same model, dataset and sizes",
    )

    tune = parser.add_argument_group("hyperparameter search (with --tune=FILE, a file in RecBole's hyper.test format)")
    tune.add_argument("--tune", type=str, default=None, metavar="FILE", help="search this space instead of one run")
    tune.add_argument(
        "--tuner",
        choices=["ray", "recbole"],
        default="ray",
        help="ray: Ray Tune, validation reported every epoch, early stopping (default); "
        "recbole: RecBole's HyperTuning (hyperopt), one full run per trial",
    )
    tune.add_argument("--num_samples", type=int, default=20, help="ray: trials to sample")
    tune.add_argument("--scheduler", choices=["asha", "fifo"], default="asha", help="ray: trial scheduler")
    tune.add_argument(
        "--search_alg",
        choices=["random", "grid", "hyperopt"],
        default="random",
        help="ray: random sampling (default); grid: every combination once, choice parameters only, "
        "--num_samples does not apply; hyperopt: TPE (needs the hyperopt extra)",
    )
    tune.add_argument("--grace_period", type=int, default=1, help="ray/asha: epochs before a trial may be stopped")
    tune.add_argument("--reduction_factor", type=int, default=2, help="ray/asha: keep 1/this at each rung")
    tune.add_argument("--cpus_per_trial", type=float, default=1.0, help="ray: CPUs per trial (also torch threads)")
    tune.add_argument(
        "--gpus_per_trial",
        type=float,
        default=None,
        help="ray: GPU fraction per trial, e.g. 0.25 runs four trials on each GPU "
        "(default 0.25 where the cluster has GPUs, else 0)",
    )
    tune.add_argument("--max_concurrent", type=int, default=0, help="ray: at most this many trials at once (0: no cap)")
    tune.add_argument(
        "--ray_address",
        type=str,
        default=None,
        help="ray: join this cluster (default: RAY_ADDRESS, else start a local Ray)",
    )
    tune.add_argument(
        "--tune_dir",
        type=str,
        default=None,
        help="where the trial table, best_config.yaml and summary go (default tune_results/<model>-<dataset>-<time>)",
    )
    tune.add_argument("--tune_seed", type=int, default=2020, help="ray: the sampler's seed")
    tune.add_argument(
        "--algo",
        choices=["exhaustive", "random", "bayes"],
        default="random",
        help="recbole: HyperTuning's algorithm (exhaustive: choice parameters only)",
    )
    tune.add_argument("--max_evals", type=int, default=20, help="recbole: trials for random/bayes")
    rec = parser.add_argument_group("recommendations from a checkpoint (with --recommend)")
    rec.add_argument("--recommend", action="store_true", help="print top-k next items instead of training")
    rec.add_argument("--checkpoint", type=str, default=None, help="a checkpoint this script (or RecBole) saved")
    rec.add_argument("--user", type=str, default=None, help="a user id of the dataset (as in its .inter file)")
    rec.add_argument("--history", type=str, default=None, help="item ids, oldest first, separated by commas")
    rec.add_argument("--users", type=str, default=None, help="'all' or user ids separated by commas: write --output")
    rec.add_argument(
        "--user_features",
        type=str,
        default=None,
        metavar="NAME=VALUE,...",
        help="a new user's features (e.g. age=25,gender=F), ranked by a model that reads them (xLSTM4RecF)",
    )
    rec.add_argument("--output", type=str, default=None, help="with --users: the CSV file to write")
    # a string: RecBole's own topk property (a list, e.g. --topk="[5,10]") shares the flag when training
    rec.add_argument("--topk", type=str, default="10", help="how many items")
    rec.add_argument("--include_seen", action="store_true", help="also rank the items of the history")
    rec.add_argument("--data_path", type=str, default=None, help="where the dataset's folder is now, if it moved")
    rec.add_argument("--device", type=str, default=None, help="cpu or cuda (default: cuda where available)")
    args, args.properties = parser.parse_known_args(argv)
    args.parser = parser
    return args


def check_output_file(parser: argparse.ArgumentParser, path: str) -> None:
    """Refuse, before any work, an output file that exists or that could not be written."""
    if os.path.exists(path):
        parser.error(f"--output {path} already exists; name a new file, or move that one away first")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        parser.error(f"--output {path}: the folder {folder} does not exist; create it, or name a file in another one")
    if not os.access(folder, os.W_OK):
        parser.error(f"--output {path}: the folder {folder} is not writable; name a file in a folder you can write")


def recommend(args: argparse.Namespace) -> list:
    from recbole_xlstm.serving.recommend import Recommender

    parser = args.parser
    asked = [name for name in ("user", "history", "users", "user_features") if getattr(args, name) is not None]
    if not args.checkpoint:
        parser.error("--recommend needs --checkpoint=FILE (a .pth file under saved/)")
    if args.properties:
        parser.error(f"--recommend takes no {args.properties[0]}: its flags are listed under --help")
    if len(asked) != 1:
        parser.error(
            "--recommend needs exactly one of --user=ID, --history=ID,ID,..., --users=all|ID,ID,... or "
            "--user_features=NAME=VALUE,..."
        )
    if args.users is not None and not args.output:
        parser.error("--users writes a CSV: add --output=FILE.csv")
    if args.output and args.users is None:
        parser.error("--output writes the CSV of --users=...; --user and --history print their table instead")
    if args.output:
        check_output_file(parser, args.output)
    if not args.topk.isdigit() or int(args.topk) < 1:
        parser.error(f"--topk must be a whole number of at least 1, not {args.topk!r}")
    topk = int(args.topk)
    profile = None
    if args.user_features is not None:
        pairs = [pair.split("=", 1) for pair in args.user_features.split(",") if pair.strip()]
        if not pairs or any(len(pair) != 2 for pair in pairs):
            parser.error(f"--user_features takes NAME=VALUE pairs separated by commas, not {args.user_features!r}")
        profile = {name.strip(): value.strip() for name, value in pairs}
    recommender = Recommender.from_checkpoint(args.checkpoint, data_path=args.data_path, device=args.device)
    exclude_seen = not args.include_seen
    if args.users is not None:
        users = None if args.users == "all" else [u.strip() for u in args.users.split(",") if u.strip()]
        written = recommender.write_csv(args.output, users, topk=topk, exclude_seen=exclude_seen)
        print(f"top {topk} for {written} users: {args.output}")
        return []
    if profile is not None:
        result = recommender.for_profile(profile, topk=topk)
    elif args.user is not None:
        result = recommender.for_user(args.user, topk=topk, exclude_seen=exclude_seen)
    else:
        items = [item.strip() for item in args.history.replace(" ", ",").split(",") if item.strip()]
        result = recommender.for_history(items, topk=topk, exclude_seen=exclude_seen)
    print(result.table())
    return [result]


def tune(args: argparse.Namespace, config_file_list: list[str] | None) -> dict:
    for flag in ("num_samples", "max_evals"):
        if getattr(args, flag) < 1:
            args.parser.error(f"--{flag} must be at least 1, not {getattr(args, flag)}")
    if args.tuner == "recbole":
        from recbole_xlstm.tuning.recbole_hyperopt import tune_with_recbole

        summary = tune_with_recbole(
            args.model,
            args.dataset,
            args.tune,
            config_file_list,
            algo=args.algo,
            max_evals=args.max_evals,
            output_dir=args.tune_dir,
        )
        print(f"best on validation: {summary['best_params']} ({summary['best_valid_score']})")
        print(f"result file and best_config.yaml: {summary['output_dir']}")
        return summary
    from recbole_xlstm.tuning.ray_tune import TuneOptions, tune_with_ray

    options = TuneOptions(
        params_file=os.path.abspath(args.tune),
        num_samples=args.num_samples,
        scheduler=args.scheduler,
        search_alg=args.search_alg,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        ray_address=args.ray_address,
        output_dir=args.tune_dir,
        seed=args.tune_seed,
    )
    summary = tune_with_ray(
        args.model, args.dataset, options, config_file_list, cmd_props_to_drop=TUNE_FLAGS + RUN_FLAGS
    )
    print(
        f"best {summary['valid_metric']} on validation: {summary['best_valid_score']}; test: {summary['test_result']}"
    )
    print(f"trial table, best_config.yaml and summary: {summary['output_dir']}")
    return summary


def expected_errors() -> tuple[type[BaseException], ...]:
    """The errors that name a user's mistake and its fix in their message: one line is all they need."""
    from recbole_xlstm.compat.checkpoint import CheckpointError
    from recbole_xlstm.data_checks import DatasetFormatError
    from recbole_xlstm.model.validation import InvalidPropertyError
    from recbole_xlstm.pipeline import DatasetNotFoundError
    from recbole_xlstm.registry import UnknownModelError
    from recbole_xlstm.serving.recommend import UnknownFeatureError, UnknownItemError
    from recbole_xlstm.tuning.report import SearchExistsError
    from recbole_xlstm.tuning.space import HyperSpaceError

    return (
        CheckpointError, DatasetFormatError, DatasetNotFoundError, HyperSpaceError, InvalidPropertyError,
        SearchExistsError, UnknownFeatureError, UnknownItemError, UnknownModelError,
    )  # fmt: skip


INTERRUPTED = 130  # a shell's status for a command stopped by SIGINT (128 + 2)


def main(argv: list[str] | None = None) -> dict | list | None:
    args = parse_args(argv)
    try:
        return dispatch(args)
    except KeyboardInterrupt as interrupt:
        from recbole_xlstm.progress import TrainingInterrupted

        if args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        if not isinstance(interrupt, TrainingInterrupted):  # a training run has logged where it stopped
            print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except expected_errors() as error:
        if args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def dispatch(args: argparse.Namespace) -> dict | list | None:
    if args.resume_from is not None and (args.recommend or args.tune):
        args.parser.error("--resume_from goes on training one run: it does not combine with --recommend or --tune")
    if args.resume_from is not None and (args.nproc != 1 or args.world_size > 0):
        args.parser.error("--resume_from runs in one process: drop --nproc and --world_size")
    if args.recommend:
        return recommend(args)
    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    if args.tune:
        return tune(args, config_file_list)
    return run(
        args.model,
        args.dataset,
        config_file_list=config_file_list,
        nproc=args.nproc,
        world_size=args.world_size,
        ip=args.ip,
        port=args.port,
        group_offset=args.group_offset,
        resume_from=args.resume_from,
    )


def entry_point() -> None:
    """The ``recbole-xlstm`` console script: ``main`` without its return value (a script's exit status)."""
    main()


if __name__ == "__main__":
    entry_point()

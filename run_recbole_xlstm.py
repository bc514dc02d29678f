"""Train and test xLSTM4Rec (or any RecBole model) with RecBole's log, metrics and checkpoints.

    python run_recbole_xlstm.py --model=xLSTM4Rec --dataset=ml-100k [--config_files="a.yaml b.yaml"] [--key=value ...]

Any other ``--key=value`` is a RecBole property (RecBole's Config reads it from the command line).
"""

from __future__ import annotations

import argparse

from recbole_xlstm.quick_start import run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", "-m", type=str, default="xLSTM4Rec", help="model name")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name")
    parser.add_argument("--config_files", type=str, default=None, help="config files, separated by spaces")
    parser.add_argument("--nproc", type=int, default=1, help="processes (GPUs) on this machine")
    parser.add_argument("--ip", type=str, default="localhost", help="the ip of the master node")
    parser.add_argument("--port", type=str, default="5678", help="the port of the master node")
    parser.add_argument("--world_size", type=int, default=-1, help="total processes over all machines")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank offset of this machine")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    config_file_list = args.config_files.strip().split(" ") if args.config_files else None
    return run(
        args.model,
        args.dataset,
        config_file_list=config_file_list,
        nproc=args.nproc,
        world_size=args.world_size,
        ip=args.ip,
        port=args.port,
        group_offset=args.group_offset,
    )


if __name__ == "__main__":
    main()

"""Which property names a run knows, and a did-you-mean for the others.

RecBole 1.2.1 keeps any name it is given: ``--hiden_size=16`` is logged and ignored, and the model trains at its
default width. Known names are RecBole's properties (every file under its ``properties/``), the plugin models'
property files, the ``recbole-xlstm`` command's flags (RecBole reads the whole command line) and the few names
RecBole's run functions set themselves. Code of the user's own that reads other properties lists them in
``extra_properties``.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any

import recbole
import yaml

from recbole_xlstm.model.validation import InvalidPropertyError

EXTRA_PROPERTIES = "extra_properties"

# The command's flags that are not properties, by group (cli.py declares the flags; tests/test_cli.py checks that
# every flag it declares is here).
RUN_FLAGS = (
    "model", "dataset", "config_files", "nproc", "ip", "port", "world_size", "group_offset", "resume_from", "debug",
)  # fmt: skip
TUNE_FLAGS = (
    "tune", "tuner", "num_samples", "scheduler", "search_alg", "grace_period", "reduction_factor", "cpus_per_trial",
    "gpus_per_trial", "max_concurrent", "ray_address", "tune_dir", "tune_seed", "algo", "max_evals",
)  # fmt: skip
RECOMMEND_FLAGS = (
    "recommend", "checkpoint", "user", "history", "users", "user_features", "output", "topk", "include_seen",
    "data_path", "device",
)  # fmt: skip
# set by RecBole's own run functions through config_dict (recbole.quick_start.run), not by any property file
RECBOLE_RUN_NAMES = ("local_rank", "offset", "single_spec")


class UnknownPropertyError(InvalidPropertyError):
    """A property name no part of the run reads."""


def property_file_names(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(folder.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            names.update(data)
    return names


@functools.cache
def known_property_names() -> frozenset[str]:
    from recbole_xlstm.config import PROPERTIES_DIR

    return frozenset(
        property_file_names(Path(recbole.__file__).resolve().parent / "properties")
        | property_file_names(PROPERTIES_DIR)
        | {*RUN_FLAGS, *TUNE_FLAGS, *RECOMMEND_FLAGS, *RECBOLE_RUN_NAMES, EXTRA_PROPERTIES}
    )


def extra_names(config: Any) -> set[str]:
    extra = config.external_config_dict.get(EXTRA_PROPERTIES) or []
    if isinstance(extra, str):
        extra = [extra]
    if not isinstance(extra, (list, tuple)) or not all(isinstance(name, str) for name in extra):
        raise InvalidPropertyError(f"{EXTRA_PROPERTIES} must be a list of property names, got {extra!r}.")
    return set(extra)


def check_property_names(config: Any, files: dict[str, str] | None = None) -> None:
    """Refuse the first property name that nothing reads, naming where it was set. ``files``: property name ->
    the config file that set it (the plugin's Config records it)."""
    known = known_property_names() | extra_names(config)
    sources = (
        (config.cmd_config_dict, "on the command line"),
        (config.variable_config_dict, "in config_dict"),
        (config.file_config_dict, "in a config file"),
    )
    for values, where in sources:
        for name in values:
            if name in known:
                continue
            if files and name in files and values is config.file_config_dict:
                where = f"in {files[name]}"
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UnknownPropertyError(
                f"Unknown property {name} {where}: neither RecBole nor {config['model']} reads it.{hint} If your "
                f"own code reads it, add it to {EXTRA_PROPERTIES}: [{name}] (docs/properties.md)."
            )

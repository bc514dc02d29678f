"""Search spaces in RecBole's hyper.test format, read once for RecBole's HyperTuning and for Ray Tune.

One line per parameter, fields separated by single spaces (RecBole's HyperTuning splits on " "):

    learning_rate loguniform -8.1,-5.3     # exp(low)..exp(high), hyperopt's convention
    dropout_prob uniform 0.1,0.5
    hidden_size choice [32,64,128]
    embedding_size quniform 16,128,16      # floats, as hyperopt returns them

Lines with fewer than three fields are skipped, as RecBole skips them.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("choice", "uniform", "loguniform", "quniform")


class HyperSpaceError(ValueError):
    """A hyper.test line that neither RecBole's HyperTuning nor Ray Tune could read."""


@dataclass(frozen=True)
class SearchParameter:
    name: str
    kind: str
    # choice: the options; uniform/loguniform: (low, high); quniform: (low, high, q)
    values: tuple


def _numbers(text: str, count: int, where: str) -> tuple[float, ...]:
    parts = text.split(",")
    if len(parts) != count:
        raise HyperSpaceError(f"{where}: expected {count} comma-separated numbers, got {text!r}.")
    try:
        return tuple(float(p) for p in parts)
    except ValueError as err:
        raise HyperSpaceError(f"{where}: {text!r} is not a list of numbers.") from err


def parse_line(line: str, where: str = "hyper.test") -> SearchParameter | None:
    """One parameter, or None for a line RecBole would skip."""
    fields = line.strip().split(" ")
    if len(fields) < 3:
        return None
    name, kind, value = fields[0], fields[1], "".join(fields[2:])
    if kind not in KINDS:
        raise HyperSpaceError(f"{where}: unknown kind {kind!r} for {name}; use one of {', '.join(KINDS)}.")
    if kind == "choice":
        try:
            options = ast.literal_eval(value)
        except (ValueError, SyntaxError) as err:
            raise HyperSpaceError(f"{where}: choice for {name} must be a Python list literal, got {value!r}.") from err
        if not isinstance(options, list) or not options:
            raise HyperSpaceError(f"{where}: choice for {name} must be a non-empty list, got {value!r}.")
        return SearchParameter(name, kind, tuple(options))
    bounds = _numbers(value, 3 if kind == "quniform" else 2, where)
    if bounds[0] >= bounds[1]:
        raise HyperSpaceError(f"{where}: {name} needs low < high, got {value!r}.")
    return SearchParameter(name, kind, bounds)


def read_hyper_file(path: str | Path) -> list[SearchParameter]:
    """All parameters of a hyper.test file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise HyperSpaceError(f"Search-space file {str(path)!r} not found. Pass --tune=<file in hyper.test format>.")
    params = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        param = parse_line(line, f"{path}:{number}")
        if param is not None:
            params.append(param)
    names = [p.name for p in params]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise HyperSpaceError(f"{path}: {', '.join(duplicated)} listed more than once.")
    if not params:
        raise HyperSpaceError(f"{path}: no parameters (expected lines such as 'learning_rate loguniform -8,-5').")
    return params


def to_ray_space(params: list[SearchParameter]) -> dict[str, Any]:
    """Ray Tune sampling domains with the same meaning as RecBole's hyperopt space."""
    from ray import tune

    space: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            space[p.name] = tune.choice(list(p.values))
        elif p.kind == "uniform":
            space[p.name] = tune.uniform(*p.values)
        elif p.kind == "loguniform":
            # hyperopt's bounds are exponents; Ray's are the values themselves
            space[p.name] = tune.loguniform(math.exp(p.values[0]), math.exp(p.values[1]))
        else:
            space[p.name] = tune.quniform(*p.values)
    return space


def plain(value: Any) -> Any:
    """A sampled value as a built-in type (numpy scalars from samplers would not survive YAML)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value

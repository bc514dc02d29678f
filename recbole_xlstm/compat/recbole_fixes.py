"""Fixes for RecBole 1.2.1 on the libraries it now meets, and for one bug of its own (Pop's counts); each
names the RecBole code and versions.

Applied once by ``import recbole_xlstm``, before any RecBole Config, Dataset or Trainer exists: each version
shim only where the installed version needs it, the changes of behaviour unless
``RECBOLE_XLSTM_BEHAVIOUR_FIXES=off`` (docs/compat.md lists them all).
tests/test_compat.py shows, for each fix, that RecBole's unpatched code still breaks on the
versions named (skipped where the installed version does not break) and that the patched path works.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas
import recbole.data.dataset.dataset as recbole_dataset_module
import recbole.data.dataset.sequential_dataset as recbole_sequential_dataset_module
import recbole.trainer.trainer as recbole_trainer_module
import recbole.utils.logger as recbole_logger_module
import torch
from packaging.version import Version
from recbole.config import Config
from recbole.model.general_recommender.pop import Pop
from recbole.utils import FeatureType

from recbole_xlstm.compat.checkpoint import load_checkpoint, save_checkpoint

# --- numpy 2 -------------------------------------------------------------------------------------


def numpy_aliases_for_recbole(config: Config | None = None) -> None:
    """Replaces ``Config.compatibility_settings`` (recbole/config/configurator.py:625-635, RecBole 1.2.1).

    RecBole's own code still uses numpy's pre-1.24 aliases (``np.float`` in evaluator/metrics.py,
    data/interaction.py and data/dataset/dataset.py; ``np.long`` in model/layers.py; ``np.str`` in
    trainer/hyper_tuning.py), so every Config sets them. It reads them from ``np.float_``,
    ``np.complex_`` and ``np.unicode_``, which numpy 2.0 removed: with numpy >= 2 every Config
    raises AttributeError. These are the same aliases, taken from names numpy 1.x and 2.x both have.

    apply() also sets them once at import: a Config restored from a checkpoint is unpickled, not
    constructed, so in a new process (``load_data_and_model``) RecBole's metrics would otherwise
    meet ``np.float`` unset; numpy >= 1.24 no longer has it.
    """
    np.bool = np.bool_
    np.int = np.int_
    np.float = np.float64
    np.complex = np.complex128
    np.object = np.object_
    np.str = np.str_
    np.long = np.int_
    np.unicode = np.str_


# --- pandas copy-on-write (pandas 3; pandas 2.x with mode.copy_on_write) -------------------------

# What pandas warns when a chained in-place call is (pandas 3) or will be (2.2) a no-op.
CHAINED_INPLACE_WARNING = r".*through chained assignment using an inplace method"


def fill_nan_by_assignment(original_fill_nan: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wraps ``Dataset._fill_nan`` (recbole/data/dataset/dataset.py:648-650, RecBole 1.2.1).

    RecBole fills missing token values with 0 ([PAD]) and missing floats with the column mean by
    ``feat[field].fillna(..., inplace=True)``. Under copy-on-write (always on in pandas 3)
    ``feat[field]`` is a copy, so the fill is lost and NaN reaches the model: a user or item missing
    from the .user/.item file keeps NaN in every feature. Here the same values are filled by
    assignment first; RecBole's method then runs for the sequence fields, with nothing left to fill.
    """

    @functools.wraps(original_fill_nan)
    def _fill_nan(self: Any) -> None:
        for feat_name in self.feat_name_list:
            feat = getattr(self, feat_name)
            for field in feat:
                if self.field2type[field] == FeatureType.TOKEN:
                    feat[field] = feat[field].fillna(value=0)
                elif self.field2type[field] == FeatureType.FLOAT:
                    feat[field] = feat[field].fillna(value=feat[field].mean())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=CHAINED_INPLACE_WARNING)
            original_fill_nan(self)

    _fill_nan.fixed_by_recbole_xlstm = True
    return _fill_nan


class PandasForRecBoleDataset:
    """Stands in for ``pandas`` inside recbole/data/dataset/dataset.py only; all but read_csv is pandas.

    ``Dataset._load_feat`` (dataset.py:501, RecBole 1.2.1) turns an empty token_seq/float_seq cell
    into "" with ``df[field].fillna(value="", inplace=True)`` before splitting it. Under
    copy-on-write (pandas 3) that fill is lost, and ``.split`` on the NaN raises
    ``AttributeError: 'float' object has no attribute 'split'``: any atomic file with an empty
    sequence cell (an item without genres, say) cannot be loaded. Here the sequence columns, which
    RecBole names ``field:token_seq`` / ``field:float_seq`` in the file header, come back filled.
    """

    SEQUENCE_TYPES = (FeatureType.TOKEN_SEQ.value, FeatureType.FLOAT_SEQ.value)

    def __init__(self, pandas_module: ModuleType) -> None:
        self._pandas = pandas_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pandas, name)

    def read_csv(self, *args: Any, **kwargs: Any) -> pandas.DataFrame:
        frame = self._pandas.read_csv(*args, **kwargs)
        for column in frame.columns:
            if str(column).rsplit(":", 1)[-1] in self.SEQUENCE_TYPES:
                frame[column] = frame[column].fillna(value="")
        return frame


def series_agg_len_per_element(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps the RecBole 1.2.1 methods that take each row's length of a sequence field with
    ``feat[field].agg(len)``: ``Dataset._remap`` (dataset.py:1217, every token_seq field),
    ``_normalize`` (712) and ``_discretization`` (792, 809) for float_seq fields, and
    ``SequentialDataset._benchmark_presets`` (sequential_dataset.py:165, pre-split files).

    pandas < 3 applied a function that cannot aggregate to each element (deprecated in 2.1:
    "using <built-in function len> in Series.agg cannot aggregate"). pandas 3 calls it on the whole
    Series, so ``agg(len)`` is the number of rows, and loading any token_seq field fails with
    "Length of values (1) does not match length of index (N)". While one of these methods runs,
    ``Series.agg(len)`` is ``Series.map(len)``, which is what RecBole means; every other call to
    ``agg`` goes to pandas unchanged, and pandas is restored when the method returns. (Dataset
    loading runs in one thread; another thread calling ``Series.agg(len)`` meanwhile would see the
    per-element form too.)
    """

    @functools.wraps(method)
    def with_per_element_len(self: Any, *args: Any, **kwargs: Any) -> Any:
        pandas_agg = pandas.Series.agg

        def agg(series: pandas.Series, func: Any = None, *agg_args: Any, **agg_kwargs: Any) -> Any:
            if func is len and not agg_args and not agg_kwargs:
                return series.map(len)
            return pandas_agg(series, func, *agg_args, **agg_kwargs)

        pandas.Series.agg = agg
        try:
            return method(self, *args, **kwargs)
        finally:
            pandas.Series.agg = pandas_agg

    with_per_element_len.fixed_by_recbole_xlstm = True
    return with_per_element_len


SERIES_AGG_LEN_METHODS = (
    (recbole_dataset_module.Dataset, "_remap"),
    (recbole_dataset_module.Dataset, "_normalize"),
    (recbole_dataset_module.Dataset, "_discretization"),
    (recbole_sequential_dataset_module.SequentialDataset, "_benchmark_presets"),
)


def without_chained_inplace_warning(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps ``Dataset._load_feat``: with PandasForRecBoleDataset its chained fillna (dataset.py:501)
    has nothing left to fill, but pandas still warns that it "never works"; that warning would
    claim a bug that is fixed."""

    @functools.wraps(method)
    def quiet(self: Any, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=CHAINED_INPLACE_WARNING)
            return method(self, *args, **kwargs)

    quiet.fixed_by_recbole_xlstm = True
    return quiet


# --- torch >= 2.6 weights-only loading ---------------------------------------------------------


class TorchForRecBoleTrainer:
    """Stands in for ``torch`` inside recbole/trainer/trainer.py only; everything but save and load
    is torch itself.

    With torch >= 2.6, ``torch.load`` defaults to ``weights_only=True``, and RecBole 1.2.1's
    checkpoints fail it twice: ``Trainer._save_checkpoint`` writes ``pickle_protocol=4``, whose
    opcodes (FRAME, STACK_GLOBAL, ...) torch's weights-only unpickler cannot read, and the file holds
    RecBole's Config and enums. So ``Trainer.evaluate(load_best_model=True)`` and
    ``Trainer.resume_checkpoint`` break on RecBole's own files. Here checkpoints are written with
    protocol 2 and read weights-only with exactly RecBole's types allowed (recbole_xlstm.compat.checkpoint).
    """

    def __init__(self, torch_module: ModuleType) -> None:
        self._torch = torch_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._torch, name)

    def save(self, obj: Any, f: Any, pickle_protocol: int = 2, **kwargs: Any) -> None:
        # RecBole passes pickle_protocol=4; it is overridden on purpose (see the class docstring). Its saves
        # are the trainers' checkpoints: written atomically, with a digest (compat/checkpoint.py).
        save_checkpoint(obj, f)

    def load(self, f: Any, map_location: Any = None, **kwargs: Any) -> Any:
        return load_checkpoint(f, map_location=map_location)


# --- torch anomaly mode ------------------------------------------------------------------------


def anomaly_mode_as_before_recbole_sine() -> None:
    """Undoes what recbole/model/sequential_recommender/sine.py:25 (RecBole 1.2.1) does when imported:
    ``torch.autograd.set_detect_anomaly(True)``, for the whole process. Importing
    ``recbole.model.sequential_recommender``, as RecBole's get_model and the plugin's registry do,
    imports it. Anomaly mode records a Python stack trace for every op and checks every backward
    pass for NaN, which slows every eager training step (benchmarks/anomaly_mode_cost.py measures it).

    The module is imported here once, and the mode goes back to what it was before; turn it on after
    ``import recbole_xlstm`` to debug. If RecBole's models were imported before recbole_xlstm, the
    mode is switched off, since sine.py switched it on.
    """
    import sys

    before = torch.is_anomaly_enabled()
    already_imported = "recbole.model.sequential_recommender.sine" in sys.modules
    import recbole.model.sequential_recommender.sine  # noqa: F401  (for its side effect, here and once)

    torch.autograd.set_detect_anomaly(False if already_imported else before)


# --- Pop's counts --------------------------------------------------------------------------------


def pop_counts_every_occurrence(self: Any, interaction: Any) -> torch.Tensor:
    """Replaces ``Pop.calculate_loss`` (recbole/model/general_recommender/pop.py:45, RecBole 1.2.1), which
    counts with ``item_cnt[item, :] = item_cnt[item, :] + 1``: an item that occurs several times in one
    batch gains 1, not its number of occurrences. Pop's counts, and its metrics, then depend on the batch size
    and on the shuffle, so on the seed (RecBole issues #1844 and #2198). ``index_add_`` counts every one."""
    item = interaction[self.ITEM_ID]
    self.item_cnt.index_add_(0, item, torch.ones(len(item), 1, dtype=self.item_cnt.dtype, device=item.device))
    self.max_cnt = torch.max(self.item_cnt, dim=0)[0]
    return torch.nn.Parameter(torch.zeros(1)).to(self.device)  # as RecBole's: Pop has nothing to train


# --- log folder ------------------------------------------------------------------------------------


def ensure_dir_without_race(dir_path: str) -> None:
    """Replaces ``ensure_dir`` where ``init_logger`` calls it (recbole/utils/logger.py:77, RecBole 1.2.1): it checks
    ``os.path.exists``, then ``os.makedirs``, so two runs that start together in one directory both find no
    ./log/<model>, and the second to make it fails with FileExistsError."""
    os.makedirs(dir_path, exist_ok=True)


# --- applying them -----------------------------------------------------------------------------

# RecBole's own functions, before apply() replaced them (tests show they still break).
ORIGINAL = {
    "Config.compatibility_settings": Config.compatibility_settings,
    "Dataset._fill_nan": recbole_dataset_module.Dataset._fill_nan,
    **{f"{owner.__name__}.{name}": getattr(owner, name) for owner, name in SERIES_AGG_LEN_METHODS},
    "Pop.calculate_loss": Pop.calculate_loss,
    "logger.ensure_dir": recbole_logger_module.ensure_dir,
}

# Set to "off" (before ``import recbole_xlstm``) to keep RecBole's own behaviour where a fix changes it rather than
# making it run on a newer library: Pop's counting, anomaly mode, the log-folder race. Version shims always apply.
BEHAVIOUR_FIXES_VARIABLE = "RECBOLE_XLSTM_BEHAVIOUR_FIXES"

logger = logging.getLogger(__name__)


def installed(package: ModuleType) -> Version:
    return Version(package.__version__)


def weights_only_checkpoints_for_recbole_trainer() -> None:
    if not isinstance(recbole_trainer_module.torch, TorchForRecBoleTrainer):
        recbole_trainer_module.torch = TorchForRecBoleTrainer(torch)


def atomic_verified_checkpoints() -> None:
    weights_only_checkpoints_for_recbole_trainer()  # its save is the one that writes atomically, with a digest


def config_compatibility_settings_for_numpy_2() -> None:
    Config.compatibility_settings = numpy_aliases_for_recbole


def pandas_copy_on_write_fills() -> None:
    dataset_class = recbole_dataset_module.Dataset
    if not getattr(dataset_class._fill_nan, "fixed_by_recbole_xlstm", False):
        dataset_class._fill_nan = fill_nan_by_assignment(dataset_class._fill_nan)
    if not isinstance(recbole_dataset_module.pd, PandasForRecBoleDataset):
        recbole_dataset_module.pd = PandasForRecBoleDataset(pandas)
    if not getattr(dataset_class._load_feat, "fixed_by_recbole_xlstm", False):
        dataset_class._load_feat = without_chained_inplace_warning(dataset_class._load_feat)


def pandas_3_agg_len() -> None:
    for owner, name in SERIES_AGG_LEN_METHODS:
        if not getattr(getattr(owner, name), "fixed_by_recbole_xlstm", False):
            setattr(owner, name, series_agg_len_per_element(getattr(owner, name)))


def pop_counting() -> None:
    Pop.calculate_loss = pop_counts_every_occurrence


def log_folder_race() -> None:
    recbole_logger_module.ensure_dir = ensure_dir_without_race


def anomaly_mode_once() -> None:
    if not getattr(anomaly_mode_once, "done", False):  # only the first import finds sine.py's switch to undo
        anomaly_mode_as_before_recbole_sine()
        anomaly_mode_once.done = True


@dataclass(frozen=True)
class Fix:
    """One change to RecBole 1.2.1. ``version``: a shim that makes it run on a library version it predates,
    applied where ``needed()``; otherwise a change of RecBole's behaviour (docs/compat.md gives each reason)."""

    name: str
    apply: Callable[[], None]
    needed: Callable[[], bool]
    version: bool


FIXES = (
    Fix("numpy >= 1.24: RecBole's np.float/np.long/... aliases", numpy_aliases_for_recbole,
        lambda: installed(np) >= Version("1.24"), version=True),
    Fix("numpy >= 2: Config.compatibility_settings", config_compatibility_settings_for_numpy_2,
        lambda: installed(np) >= Version("2"), version=True),
    Fix("pandas >= 1.5 (copy-on-write): missing features filled", pandas_copy_on_write_fills,
        lambda: installed(pandas) >= Version("1.5"), version=True),
    Fix("pandas >= 3: Series.agg(len) per row", pandas_3_agg_len,
        lambda: installed(pandas) >= Version("3"), version=True),
    Fix("torch >= 2.6: weights-only checkpoints", weights_only_checkpoints_for_recbole_trainer,
        lambda: installed(torch).release >= (2, 6), version=True),
    Fix("Pop counts every occurrence", pop_counting, lambda: True, version=False),
    Fix("checkpoints saved atomically, with a digest", atomic_verified_checkpoints, lambda: True, version=False),
    Fix("log folder made without a race", log_folder_race, lambda: True, version=False),
    Fix("anomaly mode as before RecBole's sine.py", anomaly_mode_once, lambda: True, version=False),
)  # fmt: skip


def behaviour_fixes_on() -> bool:
    value = os.environ.get(BEHAVIOUR_FIXES_VARIABLE, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{BEHAVIOUR_FIXES_VARIABLE}={value!r}: use on (the default) or off.")
    return value == "on"


def apply() -> list[str]:
    """Applies each fix that the installed versions need (and, unless RECBOLE_XLSTM_BEHAVIOUR_FIXES=off, the
    changes of behaviour); logs each at debug level. Idempotent. Returns the names of the fixes applied."""
    behaviour = behaviour_fixes_on()
    applied = []
    for fix in FIXES:
        if not fix.needed():
            logger.debug(f"recbole_xlstm.compat: not needed with the installed versions: {fix.name}")
        elif not fix.version and not behaviour:
            logger.debug(f"recbole_xlstm.compat: off ({BEHAVIOUR_FIXES_VARIABLE}=off): {fix.name}")
        else:
            fix.apply()
            applied.append(fix.name)
            logger.debug(f"recbole_xlstm.compat: applied: {fix.name}")
    apply.applied = applied
    return applied


__all__ = [
    "BEHAVIOUR_FIXES_VARIABLE",
    "FIXES",
    "ORIGINAL",
    "PandasForRecBoleDataset",
    "SERIES_AGG_LEN_METHODS",
    "TorchForRecBoleTrainer",
    "anomaly_mode_as_before_recbole_sine",
    "apply",
    "ensure_dir_without_race",
    "fill_nan_by_assignment",
    "numpy_aliases_for_recbole",
    "pop_counts_every_occurrence",
    "series_agg_len_per_element",
    "weights_only_checkpoints_for_recbole_trainer",
    "without_chained_inplace_warning",
]

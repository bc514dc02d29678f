"""recbole-xlstm: xLSTM (Beck et al. 2024) for sequential recommendation, as a RecBole plugin.

``import recbole_xlstm`` applies the RecBole compatibility fixes (``compat``; docs/compat.md) and registers
the plugin's models with RecBole, so ``recbole.utils.get_model('xLSTM4Rec')`` and RecBole's own Config work.
"""

import warnings

RECBOLE_VERSION = "1.2.1"  # the RecBole whose code recbole_xlstm.compat patches
INSTALL_HINT = (
    "From the recbole-xlstm checkout: with Python <= 3.11 and RecBole's own pins, "
    "pip install -e '.[pinned]'; with Python 3.12+ or numpy 2 / current Ray, "
    f"pip install -e '.[modern]' && pip install --no-deps recbole=={RECBOLE_VERSION} (README: Install)."
)

try:
    import recbole
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        f"recbole-xlstm needs RecBole {RECBOLE_VERSION}, which is not installed. {INSTALL_HINT}"
    ) from error
if recbole.__version__ != RECBOLE_VERSION:
    warnings.warn(
        f"recbole-xlstm's compatibility fixes are written for RecBole {RECBOLE_VERSION}; RecBole "
        f"{recbole.__version__} is installed. {INSTALL_HINT}",
        stacklevel=2,
    )

from recbole_xlstm import compat  # noqa: E402

compat.apply()

from recbole_xlstm.compat.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from recbole_xlstm.config import Config, register_properties  # noqa: E402
from recbole_xlstm.model import xLSTM4Rec, xLSTM4RecF  # noqa: E402
from recbole_xlstm.provenance import environment, machine_line  # noqa: E402
from recbole_xlstm.registry import UnknownModelError, get_model, get_trainer, register_models  # noqa: E402


def register() -> None:
    """Make RecBole's own get_model, Config and quick start find the plugin's models and their properties.
    Done by ``import recbole_xlstm``; idempotent."""
    register_models()
    register_properties()


register()

__version__ = "0.1.0"
__all__ = [
    "CheckpointError",
    "Config",
    "UnknownModelError",
    "environment",
    "get_model",
    "get_trainer",
    "load_checkpoint",
    "machine_line",
    "register",
    "xLSTM4Rec",
    "xLSTM4RecF",
]

"""recbole-xlstm: xLSTM (Beck et al. 2024) for sequential recommendation, as a RecBole plugin.

``import recbole_xlstm`` applies the RecBole compatibility fixes and registers the plugin's
models with RecBole, so ``recbole.utils.get_model('xLSTM4Rec')`` and RecBole's own Config work.
"""

from recbole_xlstm import compat

compat.apply()

from recbole_xlstm.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from recbole_xlstm.config import Config  # noqa: E402
from recbole_xlstm.model import xLSTM4Rec  # noqa: E402
from recbole_xlstm.registry import UnknownModelError, get_model, get_trainer, register  # noqa: E402

register()

__version__ = "0.1.0"
__all__ = [
    "CheckpointError",
    "Config",
    "UnknownModelError",
    "get_model",
    "get_trainer",
    "load_checkpoint",
    "register",
    "xLSTM4Rec",
]

"""Moved to recbole_xlstm.serving.streaming; this alias keeps the old import path working for one release."""

import sys

from recbole_xlstm.serving import streaming as _moved

sys.modules[__name__] = _moved

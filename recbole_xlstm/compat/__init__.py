"""What RecBole 1.2.1 needs to run on today's libraries: the fixes to RecBole (``recbole_fixes``) and safe,
weights-only checkpoint loading (``checkpoint``). docs/compat.md has the table of every fix."""

from recbole_xlstm.compat.recbole_fixes import *  # noqa: F403
from recbole_xlstm.compat.recbole_fixes import __all__ as _fixes_all

__all__ = list(_fixes_all)

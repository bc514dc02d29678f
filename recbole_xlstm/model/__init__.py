from recbole_xlstm.model.xlstm4rec import xLSTM4Rec
from recbole_xlstm.model.xlstm4recf import xLSTM4RecF

__all__ = ["xLSTM4Rec", "xLSTM4RecF"]

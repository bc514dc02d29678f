from recbole_xlstm.model.xlstm4rec import xLSTM4Rec

__all__ = ["xLSTM4Rec"]

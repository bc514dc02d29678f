"""The run script RecBole users expect beside the code: ``python run_recbole_xlstm.py --model=xLSTM4Rec
--dataset=ml-100k``. The same as the installed ``recbole-xlstm`` command (recbole_xlstm/cli.py); see
``--help``."""

from recbole_xlstm.cli import entry_point, main  # noqa: F401  (main: for scripts that call it)

if __name__ == "__main__":
    entry_point()

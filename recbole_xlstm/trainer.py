"""Plugin trainers, found by ``registry.get_trainer`` as ``<Model>Trainer``.

xLSTM4Rec trains with RecBole's own Trainer: none is needed yet. RecBole's checkpoint loading is
made safe for torch >= 2.6 in ``compat``, for every trainer alike.
"""

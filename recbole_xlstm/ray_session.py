"""The two calls a Ray Tune trial makes, for the Ray versions RecBole users have.

ray 2.6.3 (the newest RecBole 1.2.1 allows) reports through ``ray.air.session``; current Ray's Tune
documents ``ray.tune.report(metrics)`` and ``ray.tune.get_context().get_trial_dir()``
(docs.ray.io, tune/api/trainable). Only the 2.6.3 branch is tested so far; the version cut-off
below is not yet checked against the releases in between.
"""

from __future__ import annotations

from typing import Any

import ray
from packaging.version import Version

USES_AIR_SESSION = Version(ray.__version__) < Version("2.7")


def report(metrics: dict[str, Any]) -> None:
    """Send one result (one epoch) to Tune; its scheduler may stop the trial here."""
    if USES_AIR_SESSION:
        from ray.air import session

        session.report(metrics)
    else:
        ray.tune.report(metrics)


def trial_dir() -> str:
    """This trial's own folder (for its checkpoints and log)."""
    if USES_AIR_SESSION:
        from ray.air import session

        return session.get_trial_dir()
    return ray.tune.get_context().get_trial_dir()

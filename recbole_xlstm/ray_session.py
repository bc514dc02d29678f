"""The two calls a Ray Tune trial makes, for the Ray versions RecBole users have.

ray 2.6.3 (the newest RecBole 1.2.1 allows) reports through ``ray.air.session``; from ray 2.7 that
moved to ``ray.train``, and Tune got its own ``ray.tune.report`` / ``ray.tune.get_context`` (the
``ray.train`` calls inside Tune are deprecated since 2.x and removed in current releases).
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

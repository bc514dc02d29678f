"""What differs between the Ray versions recbole-xlstm supports, chosen by what the installed Ray has.

- ray 2.6.3 (the newest RecBole 1.2.1 allows; the pinned stack): a trial reports through
  ``ray.air.session``, and ``RunConfig``/``FailureConfig`` live in ``ray.air``.
- current Ray (2.50+; the modern stack, tested with 2.60.0): Tune has its own
  ``ray.tune.report(metrics)``, ``ray.tune.get_context().get_trial_dir()`` (docs.ray.io,
  tune/api/trainable) and ``ray.tune.RunConfig``/``FailureConfig``; the ``ray.air`` ones are deprecated.

Both stacks run tests/test_tuning.py in CI.
"""

from __future__ import annotations

from typing import Any

import ray
import ray.tune

# ray.tune.get_context is where current Ray moved Tune's per-trial API; 2.6.3 does not have it.
TUNE_HAS_OWN_SESSION = hasattr(ray.tune, "get_context")


def report(metrics: dict[str, Any]) -> None:
    """Send one result (one epoch) to Tune; its scheduler may stop the trial here."""
    if TUNE_HAS_OWN_SESSION:
        ray.tune.report(metrics)
    else:
        from ray.air import session

        session.report(metrics)


def trial_dir() -> str:
    """This trial's own folder (for its checkpoints and log)."""
    if TUNE_HAS_OWN_SESSION:
        return ray.tune.get_context().get_trial_dir()
    from ray.air import session

    return session.get_trial_dir()


def run_config(name: str, storage_path: str, max_failures: int = 0) -> Any:
    """Tune's RunConfig: results under ``storage_path/name``; a failing trial is recorded, not retried
    (``max_failures``), and does not stop the others."""
    if hasattr(ray.tune, "RunConfig"):
        run_config_class, failure_config_class = ray.tune.RunConfig, ray.tune.FailureConfig
    else:
        from ray import air

        run_config_class, failure_config_class = air.RunConfig, air.FailureConfig
    return run_config_class(
        name=name,
        storage_path=storage_path,
        verbose=1,
        failure_config=failure_config_class(max_failures=max_failures, fail_fast=False),
    )

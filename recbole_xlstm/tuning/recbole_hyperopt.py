"""RecBole's own way to tune: ``recbole.trainer.HyperTuning`` (hyperopt) over a hyper.test file, one
full train/valid/test run per trial, selected on validation (RecBole prints each trial's test too)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from recbole_xlstm.pipeline import checked_config
from recbole_xlstm.quick_start import objective_function
from recbole_xlstm.tuning.report import refuse_existing_search
from recbole_xlstm.tuning.space import HyperSpaceError, plain, read_hyper_file


def tune_with_recbole(
    model: str,
    dataset: str,
    params_file: str,
    config_file_list: list[str] | None = None,
    algo: str = "exhaustive",
    max_evals: int = 100,
    output_dir: str | None = None,
    early_stop: int = 10,
) -> dict[str, Any]:
    """Run HyperTuning; write its result file and best_config.yaml to ``output_dir``."""
    from recbole.trainer import HyperTuning  # needs hyperopt: pip install "recbole-xlstm[hyperopt]"

    params = read_hyper_file(params_file)  # the same checks and messages as the Ray path, before any trial
    ranges = [p.name for p in params if p.kind != "choice"]
    if algo == "exhaustive" and ranges:  # RecBole 1.2.1 fails on them with "'Apply' object has no attribute 'obj'"
        raise HyperSpaceError(
            f"--algo=exhaustive tries every combination of choice parameters; {', '.join(ranges)} "
            f"{'is a range' if len(ranges) == 1 else 'are ranges'}. Use choice lists, or --algo=random or bayes."
        )
    checked_config(model=model, dataset=dataset, config_file_list=config_file_list)  # the fixed settings and data

    def objective(config_dict: dict, config_file_list: list[str] | None = None) -> dict:
        return objective_function(dict(config_dict, model=model, dataset=dataset), config_file_list)

    out = Path(output_dir or Path("tune_results") / f"{model}-{dataset}-hyperopt-{time.strftime('%Y%m%d-%H%M%S')}")
    refuse_existing_search(out, "hyper_result.txt")
    started = time.time()
    tuner = HyperTuning(
        objective,
        algo=algo,
        early_stop=early_stop,
        max_evals=max_evals,
        params_file=params_file,
        fixed_config_file_list=config_file_list,
    )
    tuner.run()
    out.mkdir(parents=True, exist_ok=True)
    tuner.export_result(output_file=str(out / "hyper_result.txt"))
    best = {k: plain(v) for k, v in tuner.best_params.items()}
    result = tuner.params2result[tuner.params2str(tuner.best_params)]
    files = " ".join([*(config_file_list or []), "best_config.yaml"])
    (out / "best_config.yaml").write_text(
        f"# Best of {len(tuner.params2result)} HyperTuning ({algo}) trials for {model} on {dataset}, "
        f"chosen on validation (best_valid_score {tuner.best_score:.4f}).\n"
        f'# python run_recbole_xlstm.py --model={model} --dataset={dataset} --config_files="{files}"\n'
        + yaml.safe_dump(best, sort_keys=False, default_flow_style=None)
    )
    return {
        "model": model,
        "dataset": dataset,
        "best_params": best,
        "best_valid_score": tuner.best_score,
        "best_valid_result": dict(result["best_valid_result"]),
        "test_result": dict(result["test_result"]),
        "num_trials": len(tuner.params2result),
        "total_seconds": round(time.time() - started, 1),
        "output_dir": str(out),
    }

"""recbce: implicit-feedback recommenders trained with sigmoid BCE and negative sampling.

The Python API (recbce.api) loads on first use, so `import recbce` stays light:

    run = recbce.train("configs/quickstart.yaml", overrides={"train.epochs": 3})
    rec = recbce.load(run.run_dir)
    rec.recommend([1, 2], k=5)
"""

__version__ = "0.1.0"
__all__ = ["Recommender", "Run", "TuneResult", "UnknownIdError", "check_config", "compare", "evaluate",
           "load", "train", "tune"]

_API = {"train": "recbce.api", "check_config": "recbce.api", "load": "recbce.api", "evaluate": "recbce.api",
        "Run": "recbce.api",
        "Recommender": "recbce.recommender", "UnknownIdError": "recbce.recommender",
        "tune": "recbce.tuning.tune", "TuneResult": "recbce.tuning.tune",
        "compare": "recbce.evaluation.compare"}


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'recbce' has no attribute {name!r}")

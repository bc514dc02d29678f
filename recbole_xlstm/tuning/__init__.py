"""Hyperparameter search over a hyper.test file: Ray Tune (``ray_tune``), RecBole's HyperTuning
(``recbole_hyperopt``), the search-space format (``space``), the search's report (``report``) and what differs
between the Ray versions the project supports (``ray_versions``). Importing this package does not import Ray."""

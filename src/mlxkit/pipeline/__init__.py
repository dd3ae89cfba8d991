"""The pipeline: mlx.yaml (spec), params, the stage graph, mlx.lock, staleness, the runner and run cache."""

PIPELINE_FILE = "mlx.yaml"  # here, not in model.py, so that a command can look for it without loading the pipeline
LOCK_FILE = "mlx.lock"

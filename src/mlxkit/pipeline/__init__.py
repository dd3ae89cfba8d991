"""The pipeline: mlx.yaml (spec), params, the stage graph, mlx.lock, staleness, the runner and run cache."""

"""Reading and writing mlx's file formats: safe YAML, canonical JSON, JSON Schema validation."""

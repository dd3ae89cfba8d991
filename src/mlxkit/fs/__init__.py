"""File-system primitives: atomic writes, links, walks with ignore rules, path confinement."""

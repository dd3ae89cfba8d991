"""The repository: discovery, configuration, the writer lock."""

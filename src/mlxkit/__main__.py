from mlxkit.cli import entry

entry()

"""One module per command: parse the arguments, call mlxkit.api, render the result."""

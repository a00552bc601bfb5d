"""One module per command; each returns a result and the CLI prints it."""

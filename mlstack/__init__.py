"""mlstack tooling: the offline recorder and the `mlstack` command line."""

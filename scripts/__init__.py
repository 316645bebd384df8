"""The repository's tools, one package per job (see the README's layout)."""

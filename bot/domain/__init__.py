"""The product's vocabulary and rules, pure: entities in, entities changed,
no HTTP, no database, no I/O (import-linter holds this: pyproject.toml)."""

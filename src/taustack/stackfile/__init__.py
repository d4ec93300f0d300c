"""The stack file: strict pydantic models, one module per section; load, overrides and one error path."""

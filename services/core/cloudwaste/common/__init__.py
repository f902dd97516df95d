"""Shared contract types; the generated code lives in v1/ (make protos)."""

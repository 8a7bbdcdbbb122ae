"""Fixtures of the /v1 scenarios."""

from .helpers import v1

__all__ = ["v1"]

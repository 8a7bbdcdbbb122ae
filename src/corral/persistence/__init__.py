"""Storage: the only package that imports SQLAlchemy. Tables, the Store and migrations."""

from corral.persistence.store import Repository, Store, make_store

__all__ = ["Repository", "Store", "make_store"]

"""Storage: the only package that imports SQLAlchemy. Tables, the Store and migrations."""

from corral.persistence.repository import Repository
from corral.persistence.store import Store, make_store

__all__ = ["Repository", "Store", "make_store"]

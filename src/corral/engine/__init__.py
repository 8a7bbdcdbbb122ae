"""The in-memory, columnar view of the fleet and the candidate search over it.

Pure computation over NumPy arrays: no I/O. ``services.candidates`` feeds it from the
store and keeps it fresh by provider generation.
"""

"""The pure core of corral: capacity arithmetic, names and typed errors.

Nothing here performs I/O or imports a framework; every other package may import it.
"""

"""corral: a compute capacity control plane that speaks the OpenStack Placement API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("corral")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

"""The ``corral`` command line (Typer + rich), in OpenStackClient grammar."""

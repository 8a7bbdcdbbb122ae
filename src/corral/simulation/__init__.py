"""What-if simulation (``corral simulate``, docs/simulator.md): fleets (fleet.py), the
replay (replay.py), the outputs (report.py) and the live fleet's wire form (wire.py).

Below the services and above the scheduler: nothing here opens storage, so the CLI runs
a simulation on the operator's machine from a fleet file or from the copy the server
answers (``GET /v1/simulation/fleet``).
"""

"""The scheduler: the whole placement decision, pure (no I/O, no settings module).

``hosts`` (the HostTable beside the engine's FleetState), ``query`` (what a decision
asks and reads), ``plugin`` (the one shape of a filter and of a weigher), ``filters/``
and ``weighers/`` (one module each, found by their packages), ``runner`` (filter,
weigh, pick), ``explain`` (why no valid host), ``records`` (what a decision writes
down), ``capacity`` (headroom counting) and ``placer`` (the simulator's incremental
scheduler). The services feed it from the store and do the claim.
"""

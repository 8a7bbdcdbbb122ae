"""Capacity gauges at /metrics, computed at scrape time (docs/capacity.md).

A custom collector: each scrape runs one capacity pass (services/capacity.py: one engine
refresh and NumPy arithmetic, the cost of a few scheduling decisions) and yields:

* ``corral_capacity_free_slots{flavor,availability_zone}``: instances of the flavor that
  still fit in the zone (hosts with no zone: ``(no zone)``);
* ``corral_capacity_free_slots_aggregate{flavor,aggregate}``: the same per aggregate;
* ``corral_capacity_used{resource_class}``, ``corral_capacity_usable{resource_class}``
  and ``corral_capacity_utilization_ratio{resource_class}``, fleet-wide, and the same
  three with ``_zone`` (label ``availability_zone``);
* ``corral_capacity_stranded{resource_class}``: free units no flavor can use.

A failed pass is logged and exports nothing for that scrape (the other metrics are
still served).
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from corral.services import capacity as svc
from corral.services.scheduler import Scheduler
from corral.services.stores import Store

log = structlog.get_logger("corral.capacity")


class CapacityCollector(Collector):
    def __init__(self, store: Store, scheduler: Scheduler) -> None:
        self.store = store
        self.scheduler = scheduler

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # computed at scrape time only (no work at registration)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            report = svc.report(self.store, self.scheduler)
        except Exception:  # noqa: BLE001 - a failed capacity pass must not fail the scrape
            log.exception("capacity_scrape_failed")
            return
        slots = GaugeMetricFamily("corral_capacity_free_slots",
                                  "Instances of the flavor that still fit, per zone",
                                  labels=["flavor", "availability_zone"])
        for h in report.by_zone:
            for zone, count in h.groups.items():
                slots.add_metric([h.flavor_name, zone], count)
        yield slots
        per_agg = GaugeMetricFamily("corral_capacity_free_slots_aggregate",
                                    "Instances of the flavor that still fit, per aggregate",
                                    labels=["flavor", "aggregate"])
        for h in report.by_aggregate:
            for agg, count in h.groups.items():
                per_agg.add_metric([h.flavor_name, agg], count)
        yield per_agg
        u = report.utilization
        used = GaugeMetricFamily("corral_capacity_used",
                                 "Units used on up and enabled hosts", labels=["resource_class"])
        usable = GaugeMetricFamily("corral_capacity_usable",
                                   "Capacity of up and enabled hosts (ratios, reserved applied)",
                                   labels=["resource_class"])
        ratio = GaugeMetricFamily("corral_capacity_utilization_ratio", "Used / usable",
                                  labels=["resource_class"])
        for rc, c in u.fleet.items():
            used.add_metric([rc], c.used)
            usable.add_metric([rc], c.usable)
            ratio.add_metric([rc], c.ratio)
        yield from (used, usable, ratio)
        z_used = GaugeMetricFamily("corral_capacity_used_zone", "Units used, per zone",
                                   labels=["resource_class", "availability_zone"])
        z_usable = GaugeMetricFamily("corral_capacity_usable_zone", "Usable units, per zone",
                                     labels=["resource_class", "availability_zone"])
        z_ratio = GaugeMetricFamily("corral_capacity_utilization_ratio_zone",
                                    "Used / usable, per zone",
                                    labels=["resource_class", "availability_zone"])
        for zone, per_class in u.zones.items():
            for rc, c in per_class.items():
                z_used.add_metric([rc, zone], c.used)
                z_usable.add_metric([rc, zone], c.usable)
                z_ratio.add_metric([rc, zone], c.ratio)
        yield from (z_used, z_usable, z_ratio)
        stranded = GaugeMetricFamily("corral_capacity_stranded",
                                     "Free units on hosts where no flavor fits",
                                     labels=["resource_class"])
        for rc, units in u.stranded.items():
            stranded.add_metric([rc], units)
        yield stranded


def install(registry: CollectorRegistry, store: Store, scheduler: Scheduler) -> None:
    registry.register(CapacityCollector(store, scheduler))

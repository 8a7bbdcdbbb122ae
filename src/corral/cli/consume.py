"""``corral consume``: corral's own event consumer, as a process of its own."""

from __future__ import annotations

from typing import Annotated

import typer
from prometheus_client import start_http_server

from corral.cli.context import out
from corral.cli.relay import broker_process, run_until_signalled
from corral.logging import redact
from corral.services import consumer as svc

MetricsPort = Annotated[int, typer.Option(
    "--metrics-port", min=0, max=65535,
    help="Serve the consumer's Prometheus metrics on 127.0.0.1 at this port (0: none).")]


def consume_command(metrics_port: MetricsPort = 0) -> None:
    """Consume corral's events from RabbitMQ into the inbox (idempotent by message_id,
    acked after commit) until stopped (SIGTERM or Ctrl-C); run as many as you like, they
    share the queue."""
    with broker_process() as (conf, store):
        if metrics_port:
            start_http_server(metrics_port, addr="127.0.0.1")
        consumer = svc.Consumer(store, conf, metrics=svc.ConsumerMetrics())
        out.print(f"consuming queue {conf.consume_queue!r} from "
                  f"{', '.join(redact(u) for u in conf.brokers)} as {consumer.name}",
                  highlight=False)
        run_until_signalled(consumer.run)

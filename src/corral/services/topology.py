"""What corral declares on RabbitMQ, and only that (docs/events.md#topology).

- ``<exchange>`` (default ``corral``): the durable topic exchange the relay publishes
  to, routing key the event type (``services/broker.py`` declares it on every link).
- ``<exchange>.dlx``: a durable direct exchange for dead letters. A queue that sets it
  as its ``x-dead-letter-exchange`` names its own dead-letter queue by its
  ``x-dead-letter-routing-key``; outside consumers may use it for theirs.
- corral's own consumer's queue (``consume_queue``, default ``corral.events``): a
  durable **quorum** queue with a well-known name, shared by every ``corral consume``
  process (competing consumers), with ``x-delivery-limit`` and the dead-letter
  exchange: a message the consumer failed on that many times goes to
  ``<queue>.dead`` (a durable quorum queue too) instead of coming back for ever.

Never a classic mirrored queue (gone in RabbitMQ 4), never an auto-delete queue with a
well-known name. A queue that lives only as long as one consumer is exclusive and
server-named, or has ``x-expires`` (docs/events.md shows both), so a consumer that goes
away leaves nothing behind. Declaring an existing queue with other arguments is
refused by the broker (``PRECONDITION_FAILED``): change them by deleting the queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from pamqp.common import FieldTable

QUORUM: FieldTable = {"x-queue-type": "quorum"}


def dead_letter_exchange(exchange: str) -> str:
    return f"{exchange}.dlx"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


async def declare_consumer_queue(channel: AbstractChannel, exchange: AbstractExchange,
                                 queue: str, bindings: Sequence[str], *,
                                 delivery_limit: int) -> AbstractQueue:
    """Declare (idempotently) the dead-letter exchange, ``queue``'s dead-letter queue and
    ``queue`` itself, bound to ``exchange`` by each of ``bindings``; ``queue``."""
    dlx = await channel.declare_exchange(dead_letter_exchange(exchange.name),
                                         aio_pika.ExchangeType.DIRECT, durable=True)
    dead = await channel.declare_queue(dead_letter_queue(queue), durable=True,
                                       arguments=QUORUM)
    await dead.bind(dlx, routing_key=queue)
    declared = await channel.declare_queue(queue, durable=True, arguments={
        **QUORUM, "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dlx.name, "x-dead-letter-routing-key": queue})
    for key in bindings:
        await declared.bind(exchange, routing_key=key)
    return declared


"""The [events] options: the RabbitMQ relay (docs/events.md). Part of Settings."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from corral.domain import bounds

# (INI section, option name, help), as config.OPTIONS lists them.
OPTIONS: list[tuple[str, str, str]] = [
    ("events", "broker_urls",
     "RabbitMQ nodes, comma-separated amqp:// or amqps:// URLs (every node of the cluster, "
     "not a VIP: the relay tries them shuffled). Empty: events are only logged in the "
     "database (GET /v1/events)."),
    ("events", "exchange",
     "The durable topic exchange events are published to (routing key: the event type)."),
    ("events", "amqp_heartbeat_s",
     "AMQP heartbeat timeout in seconds: a silent connection is declared dead after it."),
    ("events", "amqp_connect_timeout_s", "Seconds one connection attempt may take."),
    ("events", "publish_timeout_s",
     "Seconds to wait for the broker's confirm of a batch before reconnecting and "
     "publishing it again (same message_id)."),
    ("events", "relay_in_serve",
     "Run the relay inside 'corral serve' (one relay at a time across every process and "
     "host, elected through the database); false: run 'corral relay' instead."),
    ("events", "event_retention_hours",
     "How long events stay in the database: sent ones (or, with no broker configured, "
     "all) older than this are trimmed; 0 keeps them all."),
    # corral's own consumer ('corral consume'; docs/events.md#corrals-own-consumer)
    ("events", "consume_queue",
     "The durable quorum queue corral's own consumer reads (shared by every 'corral "
     "consume' process); poison messages go to '<queue>.dead' through the exchange "
     "'<exchange>.dlx'."),
    ("events", "consume_bindings",
     "Comma-separated routing keys (event types, '*' and '#' wildcards) the consumer's "
     "queue is bound to."),
    ("events", "consume_prefetch",
     "Deliveries the broker hands one consumer before its acks (prefetch_count)."),
    ("events", "consume_delivery_limit",
     "Deliveries of one message before the broker dead-letters it (x-delivery-limit): "
     "an event the consumer fails on this many times is parked in '<queue>.dead'."),
    # 'corral doctor rabbit' (cli/doctor.py): the management HTTP API it reads.
    ("events", "rabbit_management_urls",
     "RabbitMQ management API roots, comma-separated http:// or https:// URLs (one per "
     "node: 'corral doctor rabbit' asks the first that answers, in this order)."),
    ("events", "rabbit_management_user",
     "The user 'corral doctor rabbit' reads the management API as (the monitoring tag, "
     "and access to every vhost, is enough). Empty: the user of the first of broker_urls."),
    ("events", "rabbit_management_password",
     "That user's password. Empty: the password of the first of broker_urls."),
    ("events", "rabbit_management_cacert",
     "CA bundle (PEM file) that verifies the management API's certificate. Empty: the "
     "system's CAs."),
    # evtypes: host.up / host.down (services/host_liveness.py)
    ("events", "host_liveness_check_s",
     "Seconds between the sweeps of 'corral serve' that tell a host going down or coming "
     "back up (events host.down and host.up, each told once across every process); 0 "
     "turns them off."),
]


class EventSettings(BaseModel):
    broker_urls: str = ""
    exchange: str = Field(default="corral", min_length=1, max_length=255)
    amqp_heartbeat_s: int = Field(default=10, ge=1, le=600)
    amqp_connect_timeout_s: float = Field(default=5.0, gt=0, le=300, allow_inf_nan=False)
    publish_timeout_s: float = Field(default=5.0, gt=0, le=300, allow_inf_nan=False)
    relay_in_serve: bool = True
    event_retention_hours: int = Field(default=168, ge=0, le=bounds.HOURS.high)
    # corral's own consumer
    consume_queue: str = Field(default="corral.events", min_length=1, max_length=200)
    consume_bindings: str = Field(default="#", min_length=1, max_length=2000)
    consume_prefetch: int = Field(default=50, ge=1, le=10_000)
    consume_delivery_limit: int = Field(default=10, ge=1, le=1000)
    rabbit_management_urls: str = ""
    rabbit_management_user: str = Field(default="", max_length=255)
    rabbit_management_password: str = Field(default="", max_length=255)
    rabbit_management_cacert: str = ""
    # evtypes
    host_liveness_check_s: int = Field(default=10, ge=0, le=bounds.SECONDS.high)

    @field_validator("broker_urls")
    @classmethod
    def _check_brokers(cls, value: str) -> str:
        for i, url in enumerate(_urls(value)):
            if not url.startswith(("amqp://", "amqps://")):
                raise ValueError(f"URL {i + 1} is not amqp:// or amqps://")
        return value

    @field_validator("rabbit_management_urls")
    @classmethod
    def _check_management(cls, value: str) -> str:
        for i, url in enumerate(_urls(value)):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"URL {i + 1} is not http:// or https://")
        return value

    @property
    def management_urls(self) -> list[str]:
        """The RabbitMQ management API roots 'corral doctor rabbit' reads."""
        return _urls(self.rabbit_management_urls)

    @property
    def consume_keys(self) -> list[str]:
        """The routing keys the consumer's queue is bound to."""
        return _urls(self.consume_bindings)

    @property
    def brokers(self) -> list[str]:
        """The RabbitMQ nodes' URLs (empty: no broker)."""
        return _urls(self.broker_urls)


def _urls(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]

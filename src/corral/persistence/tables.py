"""The schema, as SQLAlchemy Core tables. Migrations create it; this module names it.

Designed for what comes next: consumers and allocations exist from the first
revision so that inventory and provider deletes can refuse what is in use, and
projects/users are their own tables so quotas can hang off them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    ]


resource_classes = Table(
    "resource_classes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    *_timestamps(),
)

traits = Table(
    "traits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    *_timestamps(),
)

resource_providers = Table(
    "resource_providers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("generation", BigInteger, nullable=False, default=0),
    Column("root_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=True, index=True),
    Column("parent_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=True, index=True),
    *_timestamps(),
)

inventories = Table(
    "inventories", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_provider_id", Integer,
           ForeignKey("resource_providers.id", ondelete="CASCADE"), nullable=False),
    Column("resource_class_id", Integer, ForeignKey("resource_classes.id"), nullable=False, index=True),
    Column("total", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("min_unit", Integer, nullable=False),
    Column("max_unit", Integer, nullable=False),
    Column("step_size", Integer, nullable=False),
    Column("allocation_ratio", Float, nullable=False),
    *_timestamps(),
    UniqueConstraint("resource_provider_id", "resource_class_id"),
)

aggregates = Table(
    "aggregates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    *_timestamps(),
)

provider_aggregates = Table(
    "provider_aggregates", metadata,
    Column("resource_provider_id", Integer,
           ForeignKey("resource_providers.id", ondelete="CASCADE"), primary_key=True),
    Column("aggregate_id", Integer, ForeignKey("aggregates.id"), primary_key=True, index=True),
)

provider_traits = Table(
    "provider_traits", metadata,
    Column("resource_provider_id", Integer,
           ForeignKey("resource_providers.id", ondelete="CASCADE"), primary_key=True),
    Column("trait_id", Integer, ForeignKey("traits.id"), primary_key=True, index=True),
)

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The project id clients use (a Keystone project id, or any string).
    Column("external_id", String(255), nullable=False, unique=True),
    # The quota tree (docs/quotas.md): NULL is a root. A project first seen in a claim
    # is a root until it is moved.
    Column("parent_id", Integer, ForeignKey("projects.id", ondelete="RESTRICT"), nullable=True,
           index=True),
    Column("name", String(255), nullable=True),
    *_timestamps(),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("external_id", String(255), nullable=False, unique=True),
    *_timestamps(),
)

consumer_types = Table(
    "consumer_types", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    *_timestamps(),
)

consumers = Table(
    "consumers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("consumer_type_id", Integer, ForeignKey("consumer_types.id"), nullable=True),
    Column("generation", BigInteger, nullable=False, default=0),
    *_timestamps(),
)

allocations = Table(
    "allocations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=False),
    Column("consumer_id", Integer, ForeignKey("consumers.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("resource_class_id", Integer, ForeignKey("resource_classes.id"), nullable=False),
    Column("used", Integer, nullable=False),
    *_timestamps(),
    Index("ix_allocations_provider_class", "resource_provider_id", "resource_class_id"),
)


# -- the scheduler's view of the fleet (/v1) --------------------------------------------

hosts = Table(
    "hosts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("resource_provider_id", Integer,
           ForeignKey("resource_providers.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(255), nullable=True),
    Column("forced_down", Boolean, nullable=False),
    Column("last_heartbeat", DateTime, nullable=True),
    # Ratios and reserved memory set on the host itself; NULL: take the aggregates' or
    # the configured default.
    Column("cpu_allocation_ratio", Float, nullable=True),
    Column("ram_allocation_ratio", Float, nullable=True),
    Column("disk_allocation_ratio", Float, nullable=True),
    Column("reserved_host_memory_mb", Integer, nullable=True),
    # What the host reported (totals before ratios), so ratios can be re-applied.
    Column("vcpus", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("disk_gb", Integer, nullable=False),
    # Builds that failed here since the last one that succeeded (BuildFailureWeigher).
    Column("failed_builds", Integer, nullable=False, server_default="0"),
    Column("row_seq", Integer, nullable=False, server_default="0", index=True),  # revisions.py
    *_timestamps(),
)

heartbeat_flushes = Table("heartbeat_flushes", metadata,  # one row per flush: persistence/heartbeats.py
                          Column("seq", Integer, primary_key=True, autoincrement=False),
                          Column("at", DateTime, nullable=False),
                          Column("host_ids", LargeBinary, nullable=False))  # int32 LE

host_aggregates = Table(
    "host_aggregates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    # The Placement aggregate mirroring this one's membership.
    Column("uuid", String(36), nullable=False, unique=True),
    *_timestamps(),
)

host_aggregate_metadata = Table(
    "host_aggregate_metadata", metadata,
    Column("aggregate_id", Integer, ForeignKey("host_aggregates.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", String(255), nullable=False),
)

host_aggregate_hosts = Table(
    "host_aggregate_hosts", metadata,
    Column("aggregate_id", Integer, ForeignKey("host_aggregates.id", ondelete="CASCADE"),
           primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)

flavors = Table(
    "flavors", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flavorid", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("vcpus", Integer, nullable=False),
    Column("ram_mb", Integer, nullable=False),
    Column("disk_gb", Integer, nullable=False),
    Column("ephemeral_gb", Integer, nullable=False),
    Column("swap_mb", Integer, nullable=False),
    Column("is_public", Boolean, nullable=False),
    Column("description", String(255), nullable=True),
    *_timestamps(),
)

flavor_extra_specs = Table(
    "flavor_extra_specs", metadata,
    Column("flavor_id", Integer, ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", String(255), nullable=False),
)

flavor_projects = Table(
    "flavor_projects", metadata,
    Column("flavor_id", Integer, ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", String(255), primary_key=True),
)

server_groups = Table(
    "server_groups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("project_id", String(255), nullable=False, index=True),
    Column("user_id", String(255), nullable=False),
    # affinity | anti-affinity | soft-affinity | soft-anti-affinity
    Column("policy", String(32), nullable=False),
    # anti-affinity only: how many members one host may hold (NULL: 1).
    Column("max_server_per_host", Integer, nullable=True),
    *_timestamps(),
)

instances = Table(
    "instances", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Also the Placement consumer holding the instance's allocations.
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("project_id", String(255), nullable=False, index=True),
    Column("user_id", String(255), nullable=False),
    Column("flavor_id", String(255), nullable=False),
    # The flavor as it was when claimed (JSON): moves and retries use it, not the catalogue.
    Column("flavor", Text, nullable=False),
    # building | active | verify_resize | error | deleted (docs/scheduler.md)
    Column("state", String(32), nullable=False, index=True),
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="SET NULL"), nullable=True,
           index=True),
    Column("availability_zone", String(255), nullable=True),
    Column("server_group_uuid", String(36), nullable=True, index=True),
    # A resize or migration in progress: the flavor being moved to, the host being left,
    # and the consumer holding the source allocations until confirm or revert.
    Column("new_flavor_id", String(255), nullable=True),
    Column("new_flavor", Text, nullable=True),
    Column("source_host_id", Integer, ForeignKey("hosts.id", ondelete="SET NULL"),
           nullable=True),
    # The consumer of the instance's last migration (kept after confirm or revert, so the
    # quota audit can tell a migration's leftover allocations from a Placement client's).
    Column("migration_uuid", String(36), nullable=True),
    # Build attempts so far, and the alternates the scheduler picked (JSON list of names).
    Column("attempts", Integer, nullable=False),
    Column("alternates", String(4000), nullable=False),
    Column("decision_uuid", String(36), nullable=True),
    Column("fault", String(1000), nullable=True),
    *_timestamps(),
    Column("deleted_at", DateTime, nullable=True),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    # boot | resize | migrate
    Column("kind", String(16), nullable=False),
    Column("project_id", String(255), nullable=False, index=True),
    Column("instance_uuid", String(36), nullable=True, index=True),
    # scheduled | no_valid_host | dry_run | retries_exhausted
    Column("outcome", String(32), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("host", String(255), nullable=True),
    Column("elapsed_ms", Float, nullable=False),
    # The whole record (request, configuration used, funnel, weights, attempts) as JSON.
    Column("record", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
)

provider_changes = Table(
    "provider_changes", metadata,
    # A feed of provider changes, in commit order on SQLite (writers are serial) and
    # nearly so on PostgreSQL: engines reload only the providers named since they last
    # looked (services/candidates.py). Old rows are pruned.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, nullable=False),
)

quota_defaults = Table(
    "quota_defaults", metadata,
    # What a project may use of a resource when no limit is set on it (-1: unlimited).
    Column("resource", String(255), primary_key=True),
    Column("hard_limit", BigInteger, nullable=False),
    *_timestamps(),
)

quota_limits = Table(
    "quota_limits", metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"),
           primary_key=True),
    Column("resource", String(255), primary_key=True),
    Column("hard_limit", BigInteger, nullable=False),
    *_timestamps(),
)

quota_usage = Table(
    "quota_usage", metadata,
    # The ledger: what a project uses itself (own) and with every descendant (subtree).
    # It changes in the transaction of the allocation that moves it; the audit recounts it.
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"),
           primary_key=True),
    Column("resource", String(255), primary_key=True),
    Column("own", BigInteger, nullable=False),
    Column("subtree", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    # sha256 of the secret, hex; the secret itself is shown once, at creation.
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    # The project the token acts in (NULL: the cloud, for role admin only).
    Column("project_id", String(255), nullable=True),
    Column("user_id", String(255), nullable=False),
    # admin | project-admin | member | reader
    Column("role", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The caller's project ("" for a caller with none): a key from another project is
    # another key. Unique per (scope, key): a retry racing the first call loses here.
    Column("scope", String(255), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    # sha256 of the request as sent (canonical JSON): the same key with another body
    # is refused, never replayed.
    Column("fingerprint", String(64), nullable=False),
    # The answer to replay: HTTP status and the result it described (JSON).
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    UniqueConstraint("scope", "idempotency_key"),
)

revisions = Table(
    "revisions", metadata,
    # Named counters that move on every change of what they name (revisions.py), so a
    # cache checks one row, not a table.
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)

fleet_policy = Table(
    "fleet_policy", metadata,
    # Settings that change what the fleet looks like, kept where every process reads
    # them (services/system.py). layer 'published': what the last 'corral serve' runs
    # with; layer 'default': defaults of this database's fleet ('corral demo' records
    # that its hosts never heartbeat), below explicit configuration.
    Column("layer", String(16), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("origin", String(255), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

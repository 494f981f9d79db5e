"""SQLAlchemy 2 models. Shapes follow Quay's where a Quay concept exists (user/organization in one
table, tags with lifetimes for history, manifests stored in the database)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Claimable:
    """The claim columns of a work-queue table (``db/claims.py``): who has the row, and until when
    (POSIX ms; 0 or past: free). Queue tables also need an integer primary key ``id``."""

    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class User(Base):
    """A user or (``organization`` true) an organization: both own a namespace, as in Quay."""

    __tablename__ = "user"
    # Ids are never reused (audit entries refer to them after a delete).
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    organization: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    superuser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Robots are users named ``parent+short`` with robot true, as in Quay.
    robot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Set for accounts that log in through LDAP (the directory's uid), None for database users.
    federated_uid: Mapped[str | None] = mapped_column(String(255))
    tag_expiration_s: Mapped[int | None] = mapped_column(BigInteger)
    last_accessed_ms: Mapped[int | None] = mapped_column(BigInteger)


class Team(Base):
    """A team of an organization. Roles as in Quay: member, creator (may create repositories),
    admin (administers the organization). Every organization has an ``owners`` team (admin)."""

    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_team_organization_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    description: Mapped[str | None] = mapped_column(Text)


class TeamMember(Base):
    __tablename__ = "team_member"
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True)


class RobotSecret(Base):
    """A robot's token, encrypted with DATABASE_SECRET_KEY (Quay shows it again on request)."""

    __tablename__ = "robot_secret"
    robot_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    unstructured_metadata: Mapped[str | None] = mapped_column(Text)  # JSON


class OAuthToken(Base):
    """An API access token (Bearer on /api/v1, ``$oauthtoken`` on /v2/auth). The token is
    ``token_name`` (looked up) + a secret whose SHA-256 is kept."""

    __tablename__ = "oauth_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_name: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text)  # space separated
    title: Mapped[str | None] = mapped_column(String(255))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)


class AppToken(Base):
    """An app-specific token (``$app`` on /v2/auth); shown again on request, so encrypted."""

    __tablename__ = "app_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    token_name: Mapped[str] = mapped_column(String(32), unique=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expiration_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_accessed_ms: Mapped[int | None] = mapped_column(BigInteger)


class RepositoryPermission(Base):
    """An explicit role (read, write, admin) on a repository for a user, robot or team."""

    __tablename__ = "repository_permission"
    __table_args__ = (
        UniqueConstraint("repository_id", "user_id", name="uq_repository_permission_user"),
        UniqueConstraint("repository_id", "team_id", name="uq_repository_permission_team"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class LogEntry(Base):
    """The audit log: who did what, where, from which address, with what metadata."""

    __tablename__ = "log_entry"
    __table_args__ = (
        Index("ix_log_entry_account_time", "account_id", "datetime_ms"),
        Index("ix_log_entry_repository_time", "repository_id", "datetime_ms"),
        Index("ix_log_entry_performer_time", "performer_id", "datetime_ms"),
        Index("ix_log_entry_time", "datetime_ms"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)  # namespace (user or organization)
    performer_id: Mapped[int | None] = mapped_column(Integer)
    repository_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    datetime_ms: Mapped[int] = mapped_column(BigInteger)


class Label(Base):
    """A label on a manifest (from the manifest's config, the API, or internal)."""

    __tablename__ = "label"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(64), default="text/plain")
    source_type: Mapped[str] = mapped_column(String(16), default="api")


class FailedLogin(Base):
    """Failed password logins per username and client address, shared by every worker and host
    (the brute-force guard, services/throttle.py). ``address`` '' is the account's count across
    all addresses."""

    __tablename__ = "failed_login"
    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True, default="", server_default="")
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)


class WebSession(Base):
    """A browser session of the web UI (registry_app; Quay keeps its sessions in a signed cookie).
    ``id`` is the SHA-256 of the random session id the cookie carries, so the table alone cannot be
    replayed. ``stamp`` fingerprints the account's password hash at sign-in: a changed password ends
    the session without any hook. ``login_ms`` is the last password check (Quay's "fresh login")."""

    __tablename__ = "web_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    stamp: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    login_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class TagPullStats(Base):
    """Pulls of a tag by name (FEATURE_IMAGE_PULL_STATS), as Quay's TagPullStatistics: written by the
    pull-stats worker from counts gathered in Redis (or each process's buffer)."""

    __tablename__ = "tag_pull_stats"
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), primary_key=True)
    tag_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    manifest_digest: Mapped[str] = mapped_column(String(255))  # what the tag pointed at when last pulled
    pull_count: Mapped[int] = mapped_column(BigInteger)
    last_pull_ms: Mapped[int] = mapped_column(BigInteger)


class ManifestPullStats(Base):
    """Pulls of a manifest, by tag or digest (Quay's ManifestPullStatistics)."""

    __tablename__ = "manifest_pull_stats"
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), primary_key=True)
    manifest_digest: Mapped[str] = mapped_column(String(255), primary_key=True)
    pull_count: Mapped[int] = mapped_column(BigInteger)
    last_pull_ms: Mapped[int] = mapped_column(BigInteger)


class ExternalLogin(Base):
    """An account's identity at an OpenID Connect provider (``{NAME}_LOGIN_CONFIG``): the provider's
    ``sub`` for that service id, linked to the account created or found at first sign-in."""

    __tablename__ = "external_login"
    __table_args__ = (UniqueConstraint("service_id", "subject", name="uq_external_login_service_subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Repository(Base):
    __tablename__ = "repository"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_repository_namespace_name"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    description: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="image", server_default="image")
    state: Mapped[str] = mapped_column(String(16), default="NORMAL", server_default="NORMAL")


class Blob(Base):
    """A blob in storage. Content-addressed and shared by every repository that links it."""

    __tablename__ = "blob"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(140), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class RepositoryBlob(Base):
    """A blob is visible in a repository only through this link (pushed or mounted there)."""

    __tablename__ = "repository_blob"
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Manifest(Base):
    __tablename__ = "manifest"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_manifest_repository_digest"),
        Index("ix_manifest_subject", "repository_id", "subject_digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(140))
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(140))
    annotations: Mapped[str | None] = mapped_column(Text)  # JSON object, for referrers
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ManifestBlob(Base):
    """Blobs (config and layers) a manifest references: they must exist when it is pushed."""

    __tablename__ = "manifest_blob"
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id", ondelete="CASCADE"), primary_key=True, index=True)


class ManifestChild(Base):
    """Manifests an index / manifest list references."""

    __tablename__ = "manifest_child"
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True, index=True)


class Tag(Base):
    """A tag and its history: a live tag has ``lifetime_end_ms`` NULL; moving or deleting a tag
    ends its row's lifetime and (for a move) starts a new row, as Quay's tag history does."""

    __tablename__ = "tag"
    __table_args__ = (
        Index(
            "uq_tag_live",
            "repository_id",
            "name",
            unique=True,
            sqlite_where=text("lifetime_end_ms IS NULL"),
            postgresql_where=text("lifetime_end_ms IS NULL"),
        ),
        Index("ix_tag_repository_name", "repository_id", "name", "lifetime_start_ms"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), index=True)
    lifetime_start_ms: Mapped[int] = mapped_column(BigInteger)
    lifetime_end_ms: Mapped[int | None] = mapped_column(BigInteger)
    # When set, the tag stops being live at this time (tag expiration, quay.expires-after).
    expiration_ms: Mapped[int | None] = mapped_column(BigInteger)
    # Quay 3.17's immutable tags: such a tag is never moved, deleted, expired or pruned.
    immutable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class Upload(Base):
    """An in-progress blob upload. ``size`` is the truth: bytes past it in storage are dropped.
    ``hash_state`` is the running digest's saved state at ``size`` (see storage/hashing.py).
    ``storage_state`` is the storage driver's opaque state at ``size`` (an object store's part
    list; always NULL with the filesystem driver), saved and handed back by the services."""

    __tablename__ = "upload"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    hash_alg: Mapped[str] = mapped_column(String(16), default="sha256")
    hash_state: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage_state: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Last activity (creation, a PATCH, a keep-alive while bytes stream in): what the upload
    # collector ages by (services/uploads.py).
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    # The account that opened it (None: anonymous push), for the bound on open uploads per account.
    # No foreign key: a deleted account's uploads are collected by age like any other.
    account_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ManifestSecurityStatus(Base):
    """A manifest's security scan state, as Quay's ``manifestsecuritystatus``: ``index_status`` is
    Quay's IndexStatus (1 completed, 2 in progress, -1 failed, -2 unsupported, -3 layer too large),
    ``indexer_hash`` Clair's index state when it was indexed (a new state means re-index).
    ``retries`` (registry_app) counts failed attempts, so failures are retried a bounded number of times."""

    __tablename__ = "manifest_security_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifest.id", ondelete="CASCADE"), unique=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    index_status: Mapped[int] = mapped_column(Integer)
    error_json: Mapped[str | None] = mapped_column(Text)
    last_indexed_ms: Mapped[int] = mapped_column(BigInteger)
    indexer_hash: Mapped[str] = mapped_column(String(128))
    indexer_version: Mapped[int] = mapped_column(Integer, default=4)
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class RepositoryEvent(Base):
    """A repository notification event (e.g. ``vulnerability_found``) with Quay's event payload,
    recorded for the repository notifications worker to deliver (``delivered_ms`` NULL until it
    turned the event into ``notification_delivery`` rows, see db/notifications.py)."""

    __tablename__ = "repository_event"
    __table_args__ = (Index("ix_repository_event_pending", "delivered_ms", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    payload_json: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger)


class SecscanNotification(Base):
    """A Clair notification id received on /secscan/notification, waiting for the security worker
    to page through it (``next_page`` is Clair's paging cursor where it stopped)."""

    __tablename__ = "secscan_notification"
    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    next_page: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)


class WorkerLease(Base):
    """A lease that lets one process (of all workers on all hosts) run a background worker."""

    __tablename__ = "worker_lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_ms: Mapped[int] = mapped_column(BigInteger)


class SecscanCleanup(Claimable, Base):
    """A deleted manifest's digest whose Clair index report is to be deleted once no repository
    holds that digest any more (SECURITY_SCANNER_V4_MANIFEST_CLEANUP); a queue that the
    ``clair-cleanup`` worker takes rows from with claims (``db/claims.py``)."""

    __tablename__ = "secscan_cleanup"
    __table_args__ = (Index("ix_secscan_cleanup_claimed_until_ms", "claimed_until_ms", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(140))
    queued_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class RepositoryNotification(Base):
    """A repository notification (Quay's ``RepositoryNotification``): which event of the repository
    is sent how (``method`` with its ``config_json``), and how many deliveries failed in a row
    (three or more: disabled until reset, as in Quay). ``last_ran_ms`` orders the image-expiry scan."""

    __tablename__ = "repository_notification"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    config_json: Mapped[str] = mapped_column(Text)
    event_config_json: Mapped[str] = mapped_column(Text)
    number_of_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    last_ran_ms: Mapped[int | None] = mapped_column(BigInteger)


class NotificationDelivery(Claimable, Base):
    """One event to send through one notification: the notification worker's queue (``db/claims``).
    Made from ``repository_event`` rows (or a test request); deleted once sent or given up."""

    __tablename__ = "notification_delivery"
    __table_args__ = (Index("ix_notification_delivery_claimed_until_ms", "claimed_until_ms", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("repository_notification.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # repository_event.id; NULL for a test
    payload_json: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class NotifiedTag(Base):
    """A tag a ``repo_image_expiry`` notification was sent about (Quay's ``TagNotificationSuccess``),
    so that each expiring tag is announced once per notification."""

    __tablename__ = "notified_tag"
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("repository_notification.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True)


class NamespaceQuota(Base):
    """A namespace's storage quota (Quay's ``userorganizationquota``): one per user or organization,
    in bytes. Consumption is not stored: it is computed from the manifests' blobs (db/quota.py)."""

    __tablename__ = "namespace_quota"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    limit_bytes: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class QuotaLimit(Base):
    """A threshold of a quota (Quay's ``quotalimits``): ``quota_type`` ``Warning`` or ``Reject`` at
    ``percent_of_limit`` percent of the quota's bytes."""

    __tablename__ = "quota_limit"
    __table_args__ = (
        UniqueConstraint("quota_id", "quota_type", "percent_of_limit", name="uq_quota_limit_quota_type_percent"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quota_id: Mapped[int] = mapped_column(ForeignKey("namespace_quota.id", ondelete="CASCADE"), index=True)
    quota_type: Mapped[str] = mapped_column(String(16))
    percent_of_limit: Mapped[int] = mapped_column(Integer)
class TagPolicy(Base):
    """Auto-prune and immutability policies (Quay's NamespaceAutoPrunePolicy,
    RepositoryAutoPrunePolicy and their immutability twins in one table): ``kind`` is
    ``autoprune`` or ``immutability``; ``repository_id`` NULL for a namespace's policy; ``policy``
    the JSON config as Quay stores it (method, value, tag_pattern, tag_pattern_matches)."""

    __tablename__ = "tag_policy"
    __table_args__ = (Index("ix_tag_policy_owner", "kind", "namespace_id", "repository_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    namespace_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"), index=True)
    policy: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)

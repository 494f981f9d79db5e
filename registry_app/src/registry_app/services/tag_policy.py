"""Tag policies, as Quay has them: auto-prune policies (Quay 3.13, ``data/model/autoprune.py``) and
immutability policies with immutable tags (Quay 3.17, ``data/model/immutability.py``).

Auto-prune: a policy of a namespace or a repository says which live tags to end: ``number_of_tags``
keeps the ``value`` newest tags (of those the pattern selects) and prunes the rest,
``creation_date`` prunes the tags pushed longer than ``value`` ("7d") ago. ``tag_pattern`` (a
regular expression, searched as Quay's database ``regexp`` does) with ``tag_pattern_matches``
(default true) narrows the policy to the tags that match, or (false) to those that do not.
Immutable tags are never counted nor pruned. The creation_date policies of a repository run
before its number_of_tags ones (Quay's order). A pruned tag is ended like a delete (it stays in the
history, restorable within the time machine window) and logged as ``autoprune_tag_delete``.

Immutability: a policy's ``tag_pattern`` must match the whole tag name (Quay's ``fullmatch``);
matching tags (or with ``tag_pattern_matches`` false, the others) become immutable when they are
pushed, and when a policy is created or changed, the live tags it covers become immutable at once
(Quay's retroactive application). Removing a policy leaves the tags immutable; the tag API unsets it.

The rules are pure functions (``prune_selection``, ``immutable_by``), tested without a database.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from registry_app.db.policies import PolicyRow, PolicyStore, PruneCandidate
from registry_app.db.store import RepoRow
from registry_app.services.audit import AuditLog
from registry_app.services.errors import NotFound, RegistryError

log = logging.getLogger(__name__)

AUTOPRUNE = "autoprune"
IMMUTABILITY = "immutability"
NUMBER_OF_TAGS = "number_of_tags"
CREATION_DATE = "creation_date"
METHODS = (NUMBER_OF_TAGS, CREATION_DATE)
MAX_PATTERN = 256  # Quay's limit for immutability patterns, applied to both kinds here
# Quay's convert_to_timedelta: <number><s|m|h|d|w>.
AGE = re.compile(r"^([0-9]+)([smhdw])$")
AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PERFORMER = "autoprune worker"


class InvalidPolicy(RegistryError):
    code = "INVALID_REQUEST"
    status = 400


# -- the rules (pure) --------------------------------------------------------------------------
def age_seconds(value: Any) -> int | None:
    """Quay's duration strings ("7d", "24h", "2w") in seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    m = AGE.match(value.strip())
    if m is None:
        return None
    return int(m.group(1)) * AGE_S[m.group(2)]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise InvalidPolicy(f"tag_pattern must be {MAX_PATTERN} characters or less")
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # "a{99999999999}" overflows
        raise InvalidPolicy(f"Invalid regex pattern: {exc}") from None


def pattern_selects(name: str, pattern: str | None, matches: bool | None, *, whole: bool = False) -> bool:
    """Whether a policy with this pattern covers the tag ``name``: every tag without a pattern;
    with one, the tags it matches (``matches`` true or None) or those it does not (false).
    ``whole``: the pattern must match the whole name (immutability), else anywhere (auto-prune)."""
    if pattern is None:
        return True
    try:
        regex = re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return False  # validated on the way in; a stored one that no longer compiles covers nothing
    hit = (regex.fullmatch(name) if whole else regex.search(name)) is not None
    return hit if matches is not False else not hit


def prune_selection(tags: Sequence[PruneCandidate], config: dict[str, Any], now_ms: int) -> list[PruneCandidate]:
    """The tags a valid auto-prune policy ends, from the repository's live tags newest first.
    Immutable tags are neither counted nor pruned (Quay filters them out before the offset)."""
    pattern = config.get("tag_pattern")
    matches = config.get("tag_pattern_matches")
    covered = [t for t in tags if not t.immutable and pattern_selects(t.name, pattern, matches)]
    method = config.get("method")
    if method == NUMBER_OF_TAGS:
        keep = int(config["value"])
        return covered[keep:]
    if method == CREATION_DATE:
        age = age_seconds(config.get("value"))
        assert age is not None
        return [t for t in covered if now_ms - t.lifetime_start_ms > age * 1000]
    raise InvalidPolicy("Invalid method provided")


def immutable_by(name: str, policies: Sequence[PolicyRow]) -> bool:
    """Whether any of these immutability policies makes the tag ``name`` immutable."""
    return any(
        pattern_selects(name, p.config.get("tag_pattern"), p.config.get("tag_pattern_matches", True), whole=True)
        for p in policies
        if isinstance(p.config.get("tag_pattern"), str)
    )


def autoprune_config(body: dict[str, Any]) -> dict[str, Any]:
    """Quay's policy config from an API body (camelCase) or DEFAULT_NAMESPACE_AUTOPRUNE_POLICY
    (snake_case), validated as Quay's assert_valid_*_autoprune_policy does."""
    method = body.get("method")
    value = body.get("value")
    if method is None or value is None:
        raise InvalidPolicy("Missing the following parameters: method, value")
    pattern = body.get("tagPattern", body.get("tag_pattern"))
    if isinstance(pattern, str):
        pattern = pattern.strip()
    matches = body.get("tagPatternMatches", body.get("tag_pattern_matches", True))
    if method not in METHODS:
        raise InvalidPolicy("Invalid method provided")
    if method == NUMBER_OF_TAGS:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**31 - 1
    else:
        ok = age_seconds(value) is not None and (age_seconds(value) or 0) > 0
    if not ok:
        raise InvalidPolicy("Invalid value given for method type")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise InvalidPolicy("tag_pattern must be string")
        if pattern == "":
            raise InvalidPolicy("tag_pattern cannot be empty")
        compile_pattern(pattern)
    if matches is not None and not isinstance(matches, bool):
        raise InvalidPolicy("tag_pattern_matches must be bool")
    return {"method": method, "value": value, "tag_pattern": pattern, "tag_pattern_matches": matches}


def default_policy_problems(policy: dict[str, Any]) -> list[str]:
    """What `registry-app config validate` says about DEFAULT_NAMESPACE_AUTOPRUNE_POLICY beyond
    the schema (the value's range and shape for its method, the pattern)."""
    try:
        autoprune_config(policy)
    except InvalidPolicy as exc:
        return [f"DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {exc.message}"]
    return []


def immutability_config(body: dict[str, Any]) -> dict[str, Any]:
    pattern = body.get("tagPattern")
    if isinstance(pattern, str):
        pattern = pattern.strip()
    if not pattern or not isinstance(pattern, str):
        raise InvalidPolicy("tag_pattern is required and must be a non-empty string")
    compile_pattern(pattern)
    matches = body.get("tagPatternMatches", True)
    if not isinstance(matches, bool):
        raise InvalidPolicy("tag_pattern_matches must be a boolean")
    return {"tag_pattern": pattern, "tag_pattern_matches": matches}


def policy_view(row: PolicyRow) -> dict[str, Any]:
    """Quay's get_view of either kind."""
    view: dict[str, Any] = {"uuid": row.uuid}
    if row.kind == AUTOPRUNE:
        view["method"] = row.config.get("method")
        view["value"] = row.config.get("value")
    view["tagPattern"] = row.config.get("tag_pattern")
    view["tagPatternMatches"] = row.config.get("tag_pattern_matches", True)
    return view


# -- the service -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TagPolicySettings:
    """What config.yaml says about tag policies, read once."""

    autoprune: bool = True
    immutable_tags: bool = True
    immutable_can_expire: bool = False
    default_policy: dict[str, Any] | None = None
    interval_s: float = 30.0

    @classmethod
    def from_config(cls, config: Any) -> TagPolicySettings:
        default = config.get("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY")
        return cls(
            autoprune=bool(config.get("FEATURE_AUTO_PRUNE", True)),
            immutable_tags=bool(config.get("FEATURE_IMMUTABLE_TAGS", True)),
            immutable_can_expire=bool(config.get("FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE", False)),
            default_policy=autoprune_config(default) if isinstance(default, dict) else None,
            interval_s=float(config.get("AUTO_PRUNING_POLL_PERIOD") or 30),
        )


@dataclass(frozen=True)
class PruneResult:
    repositories: int
    pruned: int


class TagPolicyService:
    def __init__(self, store: PolicyStore, audit: AuditLog, settings: TagPolicySettings) -> None:
        self.store = store
        self.audit = audit
        self.settings = settings

    # -- policies (the API) ----------------------------------------------------------------------
    def views(self, kind: str, namespace_id: int, repository_id: int | None) -> list[dict[str, Any]]:
        return [policy_view(p) for p in self.store.policies(kind, namespace_id, repository_id)]

    def get(self, kind: str, namespace_id: int, repository_id: int | None, policy_uuid: str) -> dict[str, Any]:
        for p in self.store.policies(kind, namespace_id, repository_id):
            if p.uuid == policy_uuid:
                return policy_view(p)
        raise NotFound("policy not found")

    def _config(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return autoprune_config(body) if kind == AUTOPRUNE else immutability_config(body)

    def _duplicate(
        self, kind: str, namespace_id: int, repository_id: int | None, config: dict[str, Any], but: str | None
    ) -> bool:
        def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
            keys = ("method", "value", "tag_pattern", "tag_pattern_matches") if kind == AUTOPRUNE else ("tag_pattern",)
            return all(a.get(k) == b.get(k) for k in keys)

        return any(
            p.uuid != but and same(p.config, config) for p in self.store.policies(kind, namespace_id, repository_id)
        )

    def create(
        self, kind: str, namespace_id: int, repository_id: int | None, body: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        config = self._config(kind, body)
        if self._duplicate(kind, namespace_id, repository_id, config, None):
            raise InvalidPolicy(
                "Existing policy with same values for this "
                + ("repository" if repository_id is not None else "namespace")
                + ", duplicate policies are not permitted"
                if kind == AUTOPRUNE
                else "A policy with the same tag_pattern already exists"
            )
        new_uuid = self.store.create(kind, namespace_id, repository_id, config)
        if kind == IMMUTABILITY:
            self.apply_immutability(namespace_id, repository_id, config)
        return new_uuid, config

    def update(
        self, kind: str, namespace_id: int, repository_id: int | None, policy_uuid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        config = self._config(kind, body)
        self.get(kind, namespace_id, repository_id, policy_uuid)
        if self._duplicate(kind, namespace_id, repository_id, config, policy_uuid):
            raise InvalidPolicy(
                "Existing policy with same values, duplicate policies are not permitted"
                if kind == AUTOPRUNE
                else "A policy with the same tag_pattern already exists"
            )
        if not self.store.update(kind, namespace_id, repository_id, policy_uuid, config):
            raise NotFound("policy not found")
        if kind == IMMUTABILITY:
            self.apply_immutability(namespace_id, repository_id, config)
        return config

    def delete(self, kind: str, namespace_id: int, repository_id: int | None, policy_uuid: str) -> None:
        if not self.store.delete(kind, namespace_id, repository_id, policy_uuid):
            raise NotFound("policy not found")

    # -- immutability --------------------------------------------------------------------------
    def apply_immutability(self, namespace_id: int, repository_id: int | None, config: dict[str, Any]) -> int:
        """Make the live tags a new or changed policy covers immutable (Quay's retroactive step)."""
        policy = PolicyRow("", IMMUTABILITY, namespace_id, repository_id, config)
        marked, after = 0, 0
        while True:
            batch = self.store.live_names(namespace_id, repository_id, after, 500)
            if not batch:
                return marked
            ids = [tag_id for tag_id, _repo, name in batch if immutable_by(name, [policy])]
            marked += self.store.mark_immutable(ids, not self.settings.immutable_can_expire)
            after = batch[-1][0]

    def tags_created(self, repo: RepoRow, names: Sequence[str]) -> None:
        """After a push: the new tags that the namespace's or repository's policies cover become
        immutable (RegistryService.on_tags_created)."""
        if not self.settings.immutable_tags:
            return
        policies = self.store.for_repository(IMMUTABILITY, repo.namespace_id, repo.id)
        chosen = [n for n in names if immutable_by(n, policies)]
        if chosen:
            self.store.mark_names_immutable(repo.id, chosen, not self.settings.immutable_can_expire)

    def set_immutable(self, repo: RepoRow, name: str, immutable: bool, has_expiration: bool) -> bool:
        """The tag API's ``immutable`` flag; returns the previous value. A tag that expires cannot
        be made immutable unless FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE (Quay's rule)."""
        if immutable and has_expiration and not self.settings.immutable_can_expire:
            raise InvalidPolicy(
                f"Cannot make tag '{name}' immutable: tag has expiration set. "
                "Clear expiration first or enable FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE."
            )
        previous = self.store.set_immutable(repo.id, name, immutable, not self.settings.immutable_can_expire)
        if previous is None:
            raise NotFound(f"tag {name} not found in {repo.full_name}")
        return previous

    # -- auto-prune (the worker) ---------------------------------------------------------------
    def prune_round(self, keep_going: Callable[[], bool] = lambda: True, now_ms: int | None = None) -> PruneResult:
        """One pass over every namespace with policies (and, with DEFAULT_NAMESPACE_AUTOPRUNE_POLICY,
        every namespace): apply the policies to each NORMAL repository."""
        repos = pruned = 0
        default = self.settings.default_policy
        if default is not None:
            after = 0
            while keep_going():
                ids = self.store.namespaces(after, 100)
                if not ids:
                    break
                for ns in ids:
                    r, p = self._prune_namespace(
                        ns, [default], include_repo_policies=False, keep_going=keep_going, now_ms=now_ms
                    )
                    repos, pruned = repos + r, pruned + p
                after = ids[-1]
        for ns in self.store.namespaces_with(AUTOPRUNE):
            if not keep_going():
                break
            own = [p.config for p in self.store.policies(AUTOPRUNE, ns, None)]
            r, p = self._prune_namespace(ns, own, include_repo_policies=True, keep_going=keep_going, now_ms=now_ms)
            repos, pruned = repos + r, pruned + p
        return PruneResult(repos, pruned)

    def _prune_namespace(
        self,
        namespace_id: int,
        ns_policies: list[dict[str, Any]],
        *,
        include_repo_policies: bool,
        keep_going: Callable[[], bool],
        now_ms: int | None,
    ) -> tuple[int, int]:
        namespace = self.store.namespace_name(namespace_id)
        if namespace is None:
            return 0, 0
        repos = pruned = 0
        for repo in self.store.repositories(namespace_id):
            if not keep_going():
                break
            policies = list(ns_policies)
            if include_repo_policies:
                policies += [p.config for p in self.store.policies(AUTOPRUNE, namespace_id, repo.id)]
            if not policies:
                continue
            repos += 1
            # Quay's order: by age first, then by count.
            ordered = [c for c in policies if c.get("method") == CREATION_DATE] + [
                c for c in policies if c.get("method") == NUMBER_OF_TAGS
            ]
            for config in ordered:
                now = int(time.time() * 1000) if now_ms is None else now_ms
                for tag in prune_selection(self.store.live_tags(repo.id), config, now):
                    if self.store.end_tag(repo.id, tag.name, tag.lifetime_start_ms):
                        pruned += 1
                        self.audit.record(
                            "autoprune_tag_delete",
                            account_id=namespace_id,
                            repository_id=repo.id,
                            metadata={
                                "performer": PERFORMER,
                                "namespace": namespace,
                                "repo": repo.name,
                                "tag": tag.name,
                            },
                        )
        return repos, pruned


__all__ = [
    "AUTOPRUNE",
    "CREATION_DATE",
    "IMMUTABILITY",
    "NUMBER_OF_TAGS",
    "InvalidPolicy",
    "PruneResult",
    "TagPolicyService",
    "TagPolicySettings",
    "age_seconds",
    "autoprune_config",
    "default_policy_problems",
    "immutability_config",
    "immutable_by",
    "pattern_selects",
    "policy_view",
    "prune_selection",
]

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
from registry_app.settings.tag_policy import (
    CREATION_DATE,
    MAX_PATTERN,
    METHODS,
    NUMBER_OF_TAGS,
    PolicyValueError,
    TagPolicySettings,
    age_seconds,
    autoprune_policy,
)
from registry_app.settings.tag_policy import compile_pattern as _compile_pattern

log = logging.getLogger(__name__)

AUTOPRUNE = "autoprune"
IMMUTABILITY = "immutability"
PERFORMER = "autoprune worker"


class InvalidPolicy(RegistryError):
    code = "INVALID_REQUEST"
    status = 400


# -- the rules (pure) --------------------------------------------------------------------------
def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return _compile_pattern(pattern)
    except PolicyValueError as exc:
        raise InvalidPolicy(str(exc)) from None


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


def prune_selection(tags: Sequence[PruneCandidate], rule: dict[str, Any], now_ms: int) -> list[PruneCandidate]:
    """The tags a valid auto-prune policy ends, from the repository's live tags newest first.
    Immutable tags are neither counted nor pruned (Quay filters them out before the offset)."""
    pattern = rule.get("tag_pattern")
    matches = rule.get("tag_pattern_matches")
    covered = [t for t in tags if not t.immutable and pattern_selects(t.name, pattern, matches)]
    method = rule.get("method")
    if method == NUMBER_OF_TAGS:
        keep = int(rule["value"])
        return covered[keep:]
    if method == CREATION_DATE:
        age = age_seconds(rule.get("value"))
        assert age is not None
        return [t for t in covered if now_ms - t.lifetime_start_ms > age * 1000]
    raise InvalidPolicy("Invalid method provided")


def immutable_by(name: str, policies: Sequence[PolicyRow]) -> bool:
    """Whether any of these immutability policies makes the tag ``name`` immutable."""
    return any(
        pattern_selects(name, p.rule.get("tag_pattern"), p.rule.get("tag_pattern_matches", True), whole=True)
        for p in policies
        if isinstance(p.rule.get("tag_pattern"), str)
    )


def autoprune_config(body: dict[str, Any]) -> dict[str, Any]:
    """Quay's policy config from an API body, by the rules the settings check the configured
    default with (settings/tag_policy.py)."""
    try:
        return autoprune_policy(body)
    except PolicyValueError as exc:
        raise InvalidPolicy(str(exc)) from None


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
        view["method"] = row.rule.get("method")
        view["value"] = row.rule.get("value")
    view["tagPattern"] = row.rule.get("tag_pattern")
    view["tagPatternMatches"] = row.rule.get("tag_pattern_matches", True)
    return view


# -- the service -------------------------------------------------------------------------------
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
            p.uuid != but and same(p.rule, config) for p in self.store.policies(kind, namespace_id, repository_id)
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
            own = [p.rule for p in self.store.policies(AUTOPRUNE, ns, None)]
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
                policies += [p.rule for p in self.store.policies(AUTOPRUNE, namespace_id, repo.id)]
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
    "MAX_PATTERN",
    "METHODS",
    "NUMBER_OF_TAGS",
    "InvalidPolicy",
    "PruneResult",
    "TagPolicyService",
    "TagPolicySettings",
    "age_seconds",
    "autoprune_config",
    "immutability_config",
    "immutable_by",
    "pattern_selects",
    "policy_view",
    "prune_selection",
]

"""The brute-force guard on passwords: failed logins slow down the guesser, not the account's owner.

Failures are counted per account *and client address*. An address that fails
``REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS`` times within ``REGISTRY_APP_LOGIN_FAILURE_WINDOW``
seconds gets 429 (with Retry-After) for that account until the window ends, while the owner logs
in from elsewhere. Keyed by username alone, as it used to be, anyone could lock anyone out with a
few wrong passwords. A looser ceiling across all addresses, ``REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT``,
still bounds guessing from many addresses; reaching it locks the account for everyone until the
window ends, and a success does not reset it (a success only clears its own address's count).

Only passwords are throttled: robot, app-specific and API tokens are long random strings that
cannot be guessed, and they keep working while their account is locked. The counts live in
Redis when ``USER_EVENTS_REDIS`` is configured (``RedisFailureCounts``: one Lua script counts both
keys and starts their window atomically, and Redis expires them), else in the database; either way
every worker process and app host shares them. While Redis is unavailable the database counts
(clients/redis.py's breaker decides when to try Redis again); the two sets of counts are separate,
so a failover starts an address's count afresh, which costs at most one more window of guesses.
"""

from __future__ import annotations

from typing import Any, Protocol

from registry_app.clients.redis import RedisClient, RedisUnavailable
from registry_app.db.store import now_ms
from registry_app.services.errors import TooManyRequests
from registry_app.settings.auth import ThrottleSettings


class FailureCounts(Protocol):
    """Where failures are counted (db/identity.IdentityStore has these three methods)."""

    def failed_logins(self, username: str, address: str, window_ms: int) -> dict[str, tuple[int, int]]: ...

    def record_failed_login(self, username: str, address: str, window_ms: int) -> None: ...

    def clear_failed_logins(self, username: str, address: str) -> None: ...


# KEYS[i]: one count; ARGV[1]: the window in ms. A new count starts its window; INCR and PEXPIRE
# run as one step, so two hosts counting at once never leave a key without its expiry.
_RECORD = """
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
"""


class RedisFailureCounts:
    """The counts in Redis, ``fallback`` (the database) whenever Redis is unavailable. A key per
    (username, address) holds the count; its time to live is what is left of its window."""

    PREFIX = "registry_app:login_failures:"

    def __init__(self, redis: RedisClient, fallback: FailureCounts) -> None:
        self.redis = redis
        self.fallback = fallback
        self._record = redis.redis.register_script(_RECORD)

    def key(self, username: str, address: str) -> str:
        # A NUL cannot occur in a username; the address comes last, so no two pairs share a key.
        return f"{self.PREFIX}{username}\0{address}"

    def failed_logins(self, username: str, address: str, window_ms: int) -> dict[str, tuple[int, int]]:
        addresses = list(dict.fromkeys(("", address)))

        def read(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for addr in addresses:
                pipe.get(self.key(username, addr))
                pipe.pttl(self.key(username, addr))
            return list(pipe.execute())

        try:
            values = self.redis.call(read)
        except RedisUnavailable:
            return self.fallback.failed_logins(username, address, window_ms)
        t = now_ms()
        counts = {}
        for i, addr in enumerate(addresses):
            count, ttl = values[2 * i], values[2 * i + 1]
            if count is not None and int(ttl) > 0:
                counts[addr] = (int(count), t + int(ttl) - window_ms)  # (failures, window start)
        return counts

    def record_failed_login(self, username: str, address: str, window_ms: int) -> None:
        keys = [self.key(username, addr) for addr in dict.fromkeys(("", address))]
        try:
            self.redis.call(lambda r: self._record(keys=keys, args=[window_ms], client=r))
        except RedisUnavailable:
            self.fallback.record_failed_login(username, address, window_ms)

    def clear_failed_logins(self, username: str, address: str) -> None:
        try:
            self.redis.call(lambda r: r.delete(self.key(username, address)))
        except RedisUnavailable:
            pass
        self.fallback.clear_failed_logins(username, address)  # what was counted while Redis was down


class LoginThrottle:
    """Every method takes the client address as ``address_key`` gives it."""

    ACCOUNT = ""  # the address key of the account-wide count

    def __init__(self, identities: FailureCounts, settings: ThrottleSettings) -> None:
        self.identities = identities
        self.settings = settings
        self.window_ms = settings.window_s * 1000

    def check(self, username: str, address: str) -> bool:
        """Raise TooManyRequests while ``address`` (or everyone) is locked out of ``username``.
        Returns whether this address has failures on record (a success then clears them)."""
        counts = self.identities.failed_logins(username, address, self.window_ms)
        ends = []
        for found, limit in (
            (counts.get(address), self.settings.per_address),
            (counts.get(self.ACCOUNT), self.settings.per_account),
        ):
            if found is not None and found[0] >= limit:
                ends.append(found[1] + self.window_ms)
        if ends:
            retry_s = (max(ends) - now_ms()) // 1000 + 1
            raise TooManyRequests(
                "too many failed logins for this account; try again later",
                headers={"Retry-After": str(max(1, retry_s))},
            )
        return address in counts

    def failed(self, username: str, address: str) -> None:
        self.identities.record_failed_login(username, address, self.window_ms)

    def succeeded(self, username: str, address: str) -> None:
        self.identities.clear_failed_logins(username, address)


def address_key(address: str | None) -> str:
    """The client address as the throttle keys it ('-' when unknown; never the account key '')."""
    return (address or "-")[:64]

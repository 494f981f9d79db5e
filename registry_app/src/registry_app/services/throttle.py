"""The brute-force guard on passwords: failed logins slow down the guesser, not the account's owner.

Failures are counted per account *and client address*. An address that fails
``REGISTRY_APP_LOGIN_FAILURES_PER_ADDRESS`` times within ``REGISTRY_APP_LOGIN_FAILURE_WINDOW``
seconds gets 429 (with Retry-After) for that account until the window ends, while the owner logs
in from elsewhere. Keyed by username alone, as it used to be, anyone could lock anyone out with a
few wrong passwords. A looser ceiling across all addresses, ``REGISTRY_APP_LOGIN_FAILURES_PER_ACCOUNT``,
still bounds guessing from many addresses; reaching it locks the account for everyone until the
window ends, and a success does not reset it (a success only clears its own address's count).

Only passwords are throttled: robot, app-specific and API tokens are long random strings that
cannot be guessed, and they keep working while their account is locked. The counts live in the
database, so every worker process and app host shares them.
"""

from __future__ import annotations

from registry_app.db.identity import IdentityStore
from registry_app.db.store import now_ms
from registry_app.services.errors import TooManyRequests
from registry_app.settings.auth import ThrottleSettings


class LoginThrottle:
    """Every method takes the client address as ``address_key`` gives it."""

    ACCOUNT = ""  # the address key of the account-wide count

    def __init__(self, identities: IdentityStore, settings: ThrottleSettings) -> None:
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

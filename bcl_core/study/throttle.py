"""Budgets of failed logins per client and for the whole server (OWASP "Login Throttling").

The per-account back-off lives in the database (``failed_logins`` and ``locked_until``, used as
"not before"); these budgets live in memory, one per database per server process (the app is one
process). They count failed logins over a sliding window:

- a client (the app passes the remote address; any opaque key works) that failed
  :data:`CLIENT_FAILED_LOGIN_BUDGET` times in the window is refused until its oldest failure
  leaves the window;
- once all clients together failed :data:`GLOBAL_FAILED_LOGIN_BUDGET` times in the window,
  every client that failed at all in the window is refused, while a client without failures
  (the coordinator at their own desk) still gets in.

Client keys are kept in memory only, never written to disk or logs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bcl_core.study.constants import (
    CLIENT_FAILED_LOGIN_BUDGET,
    GLOBAL_FAILED_LOGIN_BUDGET,
    LOGIN_BUDGET_WINDOW,
)

#: The key of callers that name no client (the ``bcl`` command, scripts).
UNNAMED_CLIENT = "unnamed client"


@dataclass
class LoginBudget:
    """Sliding-window counts of failed logins, per client key and in all.

    Parameters
    ----------
    client_budget:
        Failures one client may have in the window.
    global_budget:
        Failures of all clients in the window before failing clients are refused.
    window_s:
        Length of the window in seconds.
    clock:
        Seconds on a monotonic clock (tests pass their own).
    """

    client_budget: int = CLIENT_FAILED_LOGIN_BUDGET
    global_budget: int = GLOBAL_FAILED_LOGIN_BUDGET
    window_s: float = LOGIN_BUDGET_WINDOW.total_seconds()
    clock: Callable[[], float] = time.monotonic
    _by_client: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)
    _all: deque[float] = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _prune(self, now: float) -> None:
        oldest = now - self.window_s
        while self._all and self._all[0] <= oldest:
            self._all.popleft()
        for key in list(self._by_client):
            times = self._by_client[key]
            while times and times[0] <= oldest:
                times.popleft()
            if not times:
                del self._by_client[key]

    def allows(self, client_key: str) -> bool:
        """Whether ``client_key`` may try to log in now.

        Returns
        -------
        bool
            False while the client is over its budget, or while the server is over the global
            budget and this client failed in the window.
        """
        with self._lock:
            self._prune(self.clock())
            failures = len(self._by_client.get(client_key, ()))
            if failures >= self.client_budget:
                return False
            return not (failures and len(self._all) >= self.global_budget)

    def record_failure(self, client_key: str) -> None:
        """Count one failed login of ``client_key``."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            # Past the budgets the exact count no longer matters: keep memory bounded.
            times = self._by_client.setdefault(client_key,
                                               deque(maxlen=self.client_budget))
            times.append(now)
            if len(self._all) < self.global_budget:
                self._all.append(now)
            else:
                self._all.popleft()
                self._all.append(now)


_BUDGETS: dict[str, LoginBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def login_budget(database_url: str) -> LoginBudget:
    """The budget of one database (by its URL), shared by every caller in this process."""
    with _BUDGETS_LOCK:
        return _BUDGETS.setdefault(database_url, LoginBudget())


def client_key_of(client_key: object) -> str:
    """The budget key of a caller's client: its own key, or one shared by unnamed callers."""
    if isinstance(client_key, str) and client_key.strip():
        return client_key.strip()[:256]
    return UNNAMED_CLIENT

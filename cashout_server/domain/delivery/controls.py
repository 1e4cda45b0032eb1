"""Pacing for deliveries: full-jitter backoff, per-platform circuit breakers, per-account rate gates.

These are in-memory and per worker process. Concurrency per account is counted in the database
(claims see every worker's in-flight rows), and a platform's ``Retry-After`` is stored on the
connection, so those hold across replicas; the breaker and the requests-per-minute gate are
each worker's own view.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter") spreads the retries of
    many clients that failed together instead of letting them return in waves.
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0.0, ceiling)


@dataclass
class Breaker:
    """A circuit breaker for one platform: closed, open (nothing goes), half-open (one trial)."""

    threshold: int
    cooldown: float
    max_cooldown: float = 600.0
    failures: int = 0
    opened_at: float | None = None
    current_cooldown: float = 0.0
    trial_in_flight: bool = False
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def _now(self) -> float:
        return self.clock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        if self._now() - self.opened_at >= self.current_cooldown:
            return "half_open"
        return "open"

    def seconds_until_trial(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it would now)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.current_cooldown - self._now())

    def allow(self) -> int:
        """How many deliveries may start now: unlimited (-1) when closed, 1 trial when half-open, else 0."""
        state = self.state
        if state == "closed":
            return -1
        if state == "half_open" and not self.trial_in_flight:
            return 1
        return 0

    def started(self) -> None:
        """A delivery started; in half-open state it is the trial."""
        if self.state == "half_open":
            self.trial_in_flight = True

    def success(self) -> None:
        """The platform answered: close the breaker."""
        self.failures = 0
        self.opened_at = None
        self.current_cooldown = 0.0
        self.trial_in_flight = False

    def failure(self) -> None:
        """The platform failed (5xx, timeout, unreachable): count it, open or re-open the breaker."""
        self.failures += 1
        if self.opened_at is not None:
            # A failed trial: stay open, twice as long (up to the maximum).
            self.current_cooldown = min(self.max_cooldown, self.current_cooldown * 2)
            self.opened_at = self._now()
        elif self.failures >= self.threshold:
            self.current_cooldown = self.cooldown
            self.opened_at = self._now()
        self.trial_in_flight = False


@dataclass
class RateGate:
    """A token bucket of ``per_minute`` tokens refilled continuously; one token per request."""

    per_minute: int
    tokens: float = -1.0
    updated: float = 0.0

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens, self.updated = float(self.per_minute), now
            return
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.updated) * self.per_minute / 60.0)
        self.updated = now

    def available(self, now: float | None = None) -> int:
        """Whole tokens available now."""
        self._refill(time.monotonic() if now is None else now)
        return int(self.tokens)

    def take(self, count: int, now: float | None = None) -> None:
        """Spend ``count`` tokens."""
        self._refill(time.monotonic() if now is None else now)
        self.tokens -= count

    def seconds_until_token(self) -> float:
        """Seconds until one token is available."""
        missing = 1.0 - self.tokens
        return max(0.0, missing * 60.0 / self.per_minute)

"""Fault injection: the misbehaviour a tap must survive, switchable at run time.

A fault is written as a compact spec so the same text works as a CLI flag (`--fault SPEC`), in
the admin API (`POST /__simulator__/faults {"spec": SPEC}`) and from Python
(`sim.faults.add(SPEC)`)::

    SPEC    := TARGET ":" ACTION [":" TRIGGER]  |  "fail-module:" MODULE_API_NAME
    TARGET  := token | modules | fields | create | poll | download | write | deleted | coql | any
    ACTION  := 429 | 500 | 502 | 503        answer with that HTTP error instead of the real reply
             | throttle                      token only: Zoho's 400 "Access Denied" throttle body
             | reset                         send headers and half the body, then reset the socket
             | truncate                      complete response whose body is cut in half
             | slow=SECONDS                  delay the response, then answer normally
             | expire-token                  invalidate every access token before authenticating
             | expire-page-token             invalidate every bulk-read page_token before handling
             | bad-row | bad-utf8 | bad-value | extra-column        download only: the result
             | corrupt | zip-slip | extra-member | zip-bomb         ZIP is rewritten (tamper.py)
             | fail-job                      create only: the job this call starts ends in FAILURE
    TRIGGER := once (default) | always | first=N | every=N | nth=N | rate=P

`deleted` is `GET /crm/{version}/{module}/deleted` and `coql` is `POST /crm/{version}/coql`.
Triggers count the calls of the fault's own target: `once` fires on the first call, `first=N` on
calls 1..N, `every=N` on calls N, 2N, 3N..., `nth=N` only on call N, `rate=P` with probability P
drawn from an RNG seeded by the simulator seed (so a run is reproducible).
`fail-module:Leads` makes every bulk-read job of that module created afterwards end in FAILURE;
`create:fail-job:nth=2` only the job of the second create call.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .tamper import DATA_ACTIONS

TARGETS = (
    *("token", "modules", "fields", "create", "poll", "download", "write", "deleted", "coql"),
    "any",
)
STATUS_ACTIONS = ("429", "500", "502", "503")
PLAIN_ACTIONS = ("throttle", "reset", "truncate", "expire-token", "expire-page-token", "fail-job")
TRIGGERS = ("once", "always", "first", "every", "nth", "rate")

_Num = TypeVar("_Num", int, float)


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says which part is wrong."""


@dataclass
class Fault:
    """One configured fault and how often it has fired."""

    target: str
    action: str
    trigger: str = "once"
    n: int = 1
    rate: float = 0.0
    delay: float = 0.0
    calls: int = 0
    fired: int = 0

    @property
    def spec(self) -> str:
        """The canonical spec text, used as the fault's name in stats."""
        action = f"slow={self.delay:g}" if self.action == "slow" else self.action
        if self.trigger in ("once", "always"):
            trigger = self.trigger
        elif self.trigger == "rate":
            trigger = f"rate={self.rate:g}"
        else:
            trigger = f"{self.trigger}={self.n}"
        return f"{self.target}:{action}:{trigger}"

    def should_fire(self, rng: random.Random) -> bool:
        """Count one call of the target and decide whether the fault fires on it."""
        self.calls += 1
        if self.trigger == "once":
            hit = self.fired == 0
        elif self.trigger == "always":
            hit = True
        elif self.trigger == "first":
            hit = self.calls <= self.n
        elif self.trigger == "every":
            hit = self.calls % self.n == 0
        elif self.trigger == "nth":
            hit = self.calls == self.n
        else:
            hit = rng.random() < self.rate
        if hit:
            self.fired += 1
        return hit


def parse_fault(spec: str) -> Fault | str:
    """Parse a spec: a Fault, or the module name of a `fail-module:NAME` spec."""
    parts = spec.strip().split(":")
    if parts[0] == "fail-module":
        if len(parts) != 2 or not parts[1]:
            raise FaultSpecError(f"fault {spec!r}: expected fail-module:MODULE")
        return parts[1]
    if len(parts) not in (2, 3):
        raise FaultSpecError(f"fault {spec!r}: expected TARGET:ACTION[:TRIGGER]")
    target, action_text = parts[0], parts[1]
    if target not in TARGETS:
        raise FaultSpecError(f"fault {spec!r}: target must be one of {', '.join(TARGETS)}")
    fault = Fault(target=target, action=action_text)
    if action_text.startswith("slow="):
        fault.action = "slow"
        fault.delay = _number(spec, action_text[5:], float)
        if fault.delay < 0:
            raise FaultSpecError(f"fault {spec!r}: delay must not be negative")
    elif action_text not in STATUS_ACTIONS + PLAIN_ACTIONS + DATA_ACTIONS:
        raise FaultSpecError(
            f"fault {spec!r}: action must be one of "
            f"{', '.join(STATUS_ACTIONS + PLAIN_ACTIONS + DATA_ACTIONS)} or slow=SECONDS"
        )
    if fault.action == "throttle" and target != "token":
        raise FaultSpecError(f"fault {spec!r}: throttle only applies to the token endpoint")
    if fault.action == "fail-job" and target != "create":
        raise FaultSpecError(f"fault {spec!r}: fail-job only applies to job creation")
    if fault.action in DATA_ACTIONS and target != "download":
        raise FaultSpecError(f"fault {spec!r}: {fault.action} only applies to downloads")
    if len(parts) == 3:
        _apply_trigger(fault, spec, parts[2])
    return fault


def _apply_trigger(fault: Fault, spec: str, text: str) -> None:
    name, _, value = text.partition("=")
    if name not in TRIGGERS or (name in ("once", "always")) != (value == ""):
        raise FaultSpecError(
            f"fault {spec!r}: trigger must be once, always, first=N, every=N, nth=N or rate=P"
        )
    fault.trigger = name
    if name == "rate":
        fault.rate = _number(spec, value, float)
        if not 0.0 <= fault.rate <= 1.0:
            raise FaultSpecError(f"fault {spec!r}: rate must be between 0 and 1")
    elif value:
        fault.n = _number(spec, value, int)
        if fault.n < 1:
            raise FaultSpecError(f"fault {spec!r}: N must be at least 1")


def _number(spec: str, text: str, kind: Callable[[str], _Num]) -> _Num:
    try:
        return kind(text)
    except ValueError:
        raise FaultSpecError(f"fault {spec!r}: {text!r} is not a number") from None


@dataclass
class FaultRegistry:
    """The live set of faults, shared by the request threads."""

    seed: int = 1
    faults: list[Fault] = field(default_factory=list)
    failing_modules: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible faults, not secrets

    def add(self, spec: str | Fault) -> Fault | str:
        """Add a fault from a spec (or a ready Fault); returns what was added."""
        parsed = parse_fault(spec) if isinstance(spec, str) else spec
        with self._lock:
            if isinstance(parsed, str):
                self.failing_modules.add(parsed)
            else:
                self.faults.append(parsed)
        return parsed

    def clear(self) -> None:
        """Remove every fault, failing modules included."""
        with self._lock:
            self.faults.clear()
            self.failing_modules.clear()

    def module_fails(self, module: str) -> bool:
        """Whether new jobs of this module must end in FAILURE."""
        with self._lock:
            return module in self.failing_modules

    def draw(self, target: str) -> list[Fault]:
        """Count one call of `target` against every matching fault; return those that fire."""
        with self._lock:
            return [
                fault
                for fault in self.faults
                if fault.target in (target, "any") and fault.should_fire(self._rng)
            ]

    def fired_counts(self) -> dict[str, int]:
        """How often each fault fired, by spec."""
        counts: dict[str, int] = {}
        with self._lock:
            for fault in self.faults:
                counts[fault.spec] = counts.get(fault.spec, 0) + fault.fired
        return counts

    def describe(self) -> dict[str, object]:
        """JSON-ready view for stats and the admin API."""
        with self._lock:
            return {
                "faults": [
                    {"spec": f.spec, "calls": f.calls, "fired": f.fired} for f in self.faults
                ],
                "failing_modules": sorted(self.failing_modules),
            }

"""How much work a run asks of the server, estimated and checked before any of it is done.

The per-run caps (images, classes, templates, seeds ...) still allow runs of hours: 1000
classes x 10 WaffleCLIP seeds x 200 descriptors is 2 million prompts. A visitor's run is
therefore also held to a work budget set by the operator (``RunLimits``): text prompts to
encode (here) and image pixels to decode (``compare.encode_images``, which reads each new
image's header and counts JPEGs at their reduced decoding size). Both are checked up front and
a run over budget is refused with the estimate, before a model encodes anything.

Prompts: each strategy's prompt count (WaffleCLIP's by arithmetic, the others from their
prompt lists), for each model. When that is over the budget, prompts already in a model's
text cache are not counted (a rerun of a large class list costs nothing), unless the count
is so large that even listing the prompts is too much work (``LISTING_FACTOR`` x the budget).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prompting.classes import ClassName
from prompting.errors import BudgetError, PromptingError
from prompting.service.config import RunLimits
from prompting.strategies.registry import StrategySpec, build_prompts, default_label

# Listing prompts to look them up in a cache is itself work: beyond this many times the
# budget, the arithmetic count is used as it is.
LISTING_FACTOR = 4


@dataclass
class WorkEstimate:
    """What a run would cost in new prompts to encode, per strategy label."""

    prompts: dict[str, int] = field(default_factory=dict)

    @property
    def total_prompts(self) -> int:
        """New prompts over all strategies and models."""
        return sum(self.prompts.values())


def planned_prompts(spec: StrategySpec, classes: list[ClassName]) -> int:
    """How many prompts ``spec`` writes for ``classes`` (0 when it cannot be built: it will be
    reported as a strategy error, not run). WaffleCLIP's count is arithmetic, so a huge request
    is never listed."""
    if spec.name == "waffle" and spec.waffle is not None:
        return len(classes) * len(spec.waffle.seeds) * (spec.waffle.n_words + spec.waffle.n_chars)
    try:
        return sum(len(prompts) for prompts in build_prompts(spec, classes).prompts)
    except PromptingError:
        return 0


def distinct_prompts(spec: StrategySpec, classes: list[ClassName]) -> set[str]:
    """The distinct prompts ``spec`` writes for ``classes`` (none when it cannot be built)."""
    try:
        return {prompt for prompts in build_prompts(spec, classes).prompts for prompt in prompts}
    except PromptingError:
        return set()


def estimate_prompts(
    specs: Sequence[StrategySpec],
    classes: list[ClassName],
    cached: Sequence[Callable[[set[str]], int]],
    budget: int,
) -> dict[str, int]:
    """New prompts per strategy label, summed over models; ``cached[m](prompts)`` counts how
    many of ``prompts`` model ``m``'s text cache already holds."""
    counts: dict[str, int] = {}
    for spec in specs:
        label = default_label(spec)
        counts[label] = counts.get(label, 0) + planned_prompts(spec, classes) * len(cached)
    total = sum(counts.values())
    if total <= budget or total > LISTING_FACTOR * budget:
        return counts
    fresh: dict[str, int] = {}
    for spec in specs:
        prompts, label = distinct_prompts(spec, classes), default_label(spec)
        fresh[label] = fresh.get(label, 0) + sum(len(prompts) - known(prompts) for known in cached)
    return fresh


def check_work(estimate: WorkEstimate, limits: RunLimits) -> None:
    """Refuse (BudgetError) a run whose new prompts are over ``limits.max_prompts_per_run``,
    saying by how much and what to change."""
    max_prompts = limits.max_prompts_per_run
    if estimate.total_prompts > max_prompts:
        parts = ", ".join(f"{label} {count:,}" for label, count in estimate.prompts.items() if count)
        raise BudgetError(
            f"This run would encode about {estimate.total_prompts:,} new text prompts ({parts}); this server "
            f"encodes at most {max_prompts:,} per run. Use fewer classes, templates, descriptions or WaffleCLIP "
            "seeds and descriptors, or split the classes over several runs."
        )


class RequestBudgets:
    """Language-model requests each session may still send (the operator pays for them).

    ``take`` is called before each request and answers False once the session's budget is used
    up; cached answers cost nothing. A session's count is dropped when it ends.
    """

    def __init__(self, per_session: int) -> None:
        self.per_session = per_session
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def remaining(self, session: str) -> int:
        """Requests ``session`` may still send."""
        with self._lock:
            return max(self.per_session - self._used.get(session, 0), 0)

    def take(self, session: str) -> bool:
        """Count one request for ``session``; False (nothing counted) when none is left."""
        with self._lock:
            used = self._used.get(session, 0)
            if used >= self.per_session:
                return False
            self._used[session] = used + 1
            return True

    def end(self, session: str) -> None:
        """Forget ``session`` (it ended)."""
        with self._lock:
            self._used.pop(session, None)

"""What changed since a session's previous run that a user would not expect from their edit.

WaffleCLIP draws its random descriptors for the whole class list at once (their number of words
and characters follows the class names, and the draw picks among the classes, as in the paper's
code), so adding, removing or renaming one class gives every class new prompts.
"""

from __future__ import annotations

from prompting.service.session_store import RunRecord

WAFFLE = "waffle"
WAFFLE_REDRAWN = (
    "The class list changed since your last run, so WaffleCLIP drew new random descriptors for every class, the "
    "classes you kept included (they are sized from the class names, as in the paper): {changed} of its {total} "
    "prompts differ from the last run's and were encoded anew unless an earlier run had them, and the kept "
    "classes' WaffleCLIP scores move too."
)


def _waffle_keys(record: RunRecord) -> list[str]:
    """The run's WaffleCLIP results (one per model, and per repeat of the strategy)."""
    return [key for key, source in record.sources.items() if source.spec.name == WAFFLE
            and key in record.comparison.strategies]


def _waffle_prompts(record: RunRecord) -> set[str]:
    """Every WaffleCLIP prompt of a run (all its seeds and models)."""
    strategies = record.comparison.strategies
    return {prompt for key in _waffle_keys(record) for prompts in strategies[key].prompts for prompt in prompts}


def waffle_redraw_note(previous: RunRecord | None, current: RunRecord) -> str:
    """A sentence when both runs scored WaffleCLIP, the class list changed in between and the
    classes kept got new WaffleCLIP prompts ('' otherwise), with how many prompts are new."""
    if previous is None:
        return ""
    before, after = previous.comparison.classes, current.comparison.classes
    if before == after:
        return ""
    old, new = _waffle_prompts(previous), _waffle_prompts(current)
    if not old or not new:
        return ""
    kept = {cls.prompt for cls in before} & {cls.prompt for cls in after}
    if not kept or all(_class_prompts(previous, name) == _class_prompts(current, name) for name in kept):
        return ""
    return WAFFLE_REDRAWN.format(changed=f"{len(new - old):,}", total=f"{len(new):,}")


def _class_prompts(record: RunRecord, prompt_name: str) -> set[str]:
    """One class's WaffleCLIP prompts in a run."""
    index = [cls.prompt for cls in record.comparison.classes].index(prompt_name)
    strategies = record.comparison.strategies
    return {prompt for key in _waffle_keys(record) for prompt in strategies[key].prompts[index]}

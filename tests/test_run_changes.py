"""What the page says changed since a session's last run (WaffleCLIP's redraw on a new class list)."""

from __future__ import annotations

from pathlib import Path

from prompting.classes import parse_class_list
from prompting.evaluation.compare import ImageInput
from prompting.service.run_changes import waffle_redraw_note
from prompting.service.workflows import StrategyInputs, build_specs, run_models
from tests.conftest import make_image


def test_a_changed_class_list_says_waffleclip_redrew_every_class(tmp_path: Path, tiny_clip_dir: Path) -> None:
    images = [ImageInput(str(make_image(tmp_path / f"{n}.png", seed=n))) for n in range(2)]
    inputs = StrategyInputs(waffle_seeds=(0, 1), waffle_words=3, waffle_chars=3)
    specs, _ = build_specs(["classname", "waffle"], inputs)

    def run(classes: str):
        return run_models([str(tiny_clip_dir)], images, parse_class_list(classes), specs)

    first = run("cat\ndog\nbird")
    assert waffle_redraw_note(None, first) == ""
    assert waffle_redraw_note(first, run("cat\ndog\nbird")) == ""
    added = run("cat\ndog\nbird\nhummingbird")
    note = waffle_redraw_note(first, added)
    old = {p for prompts in first.comparison.strategies["waffle"].prompts for p in prompts}
    new = {p for prompts in added.comparison.strategies["waffle"].prompts for p in prompts}
    kept_old = set(first.comparison.strategies["waffle"].prompts[0])
    assert kept_old != set(added.comparison.strategies["waffle"].prompts[0])  # "cat" itself was redrawn
    assert note.startswith("The class list changed since your last run, so WaffleCLIP drew new random descriptors")
    assert f"{len(new - old)} of its {len(new)} prompts differ from the last run's" in note
    without_waffle, _ = build_specs(["classname"], inputs)
    plain = run_models([str(tiny_clip_dir)], images, parse_class_list("cat\ndog"), without_waffle)
    assert waffle_redraw_note(first, plain) == "" and waffle_redraw_note(plain, added) == ""

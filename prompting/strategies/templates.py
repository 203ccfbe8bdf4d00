"""Prompt templates: CLIP's ImageNet ensembles, parsing user templates and filling them.

``IMAGENET_TEMPLATES`` are the 80 templates OpenAI published with CLIP
(notebooks/Prompt_Engineering_for_ImageNet.ipynb; ``OPENAI_IMAGENET_TEMPLATES`` in open_clip),
verbatim and in order. ``IMAGENET_TEMPLATES_7`` is the 7-template subset the same notebook
selected (``SIMPLE_IMAGENET_TEMPLATES`` in open_clip). A template holds exactly one ``{}``,
which is replaced by the class's prompt name.
"""

from __future__ import annotations

from prompting.errors import StrategyError
from prompting.storage import read_user_text

PLACEHOLDER = "{}"

DEFAULT_TEMPLATE = "a photo of a {}."

IMAGENET_TEMPLATES: tuple[str, ...] = (
    'a bad photo of a {}.',
    'a photo of many {}.',
    'a sculpture of a {}.',
    'a photo of the hard to see {}.',
    'a low resolution photo of the {}.',
    'a rendering of a {}.',
    'graffiti of a {}.',
    'a bad photo of the {}.',
    'a cropped photo of the {}.',
    'a tattoo of a {}.',
    'the embroidered {}.',
    'a photo of a hard to see {}.',
    'a bright photo of a {}.',
    'a photo of a clean {}.',
    'a photo of a dirty {}.',
    'a dark photo of the {}.',
    'a drawing of a {}.',
    'a photo of my {}.',
    'the plastic {}.',
    'a photo of the cool {}.',
    'a close-up photo of a {}.',
    'a black and white photo of the {}.',
    'a painting of the {}.',
    'a painting of a {}.',
    'a pixelated photo of the {}.',
    'a sculpture of the {}.',
    'a bright photo of the {}.',
    'a cropped photo of a {}.',
    'a plastic {}.',
    'a photo of the dirty {}.',
    'a jpeg corrupted photo of a {}.',
    'a blurry photo of the {}.',
    'a photo of the {}.',
    'a good photo of the {}.',
    'a rendering of the {}.',
    'a {} in a video game.',
    'a photo of one {}.',
    'a doodle of a {}.',
    'a close-up photo of the {}.',
    'a photo of a {}.',
    'the origami {}.',
    'the {} in a video game.',
    'a sketch of a {}.',
    'a doodle of the {}.',
    'a origami {}.',
    'a low resolution photo of a {}.',
    'the toy {}.',
    'a rendition of the {}.',
    'a photo of the clean {}.',
    'a photo of a large {}.',
    'a rendition of a {}.',
    'a photo of a nice {}.',
    'a photo of a weird {}.',
    'a blurry photo of a {}.',
    'a cartoon {}.',
    'art of a {}.',
    'a sketch of the {}.',
    'a embroidered {}.',
    'a pixelated photo of a {}.',
    'itap of the {}.',
    'a jpeg corrupted photo of the {}.',
    'a good photo of a {}.',
    'a plushie {}.',
    'a photo of the nice {}.',
    'a photo of the small {}.',
    'a photo of the weird {}.',
    'the cartoon {}.',
    'art of the {}.',
    'a drawing of the {}.',
    'a photo of the large {}.',
    'a black and white photo of a {}.',
    'the plushie {}.',
    'a dark photo of a {}.',
    'itap of a {}.',
    'graffiti of the {}.',
    'a toy {}.',
    'itap of my {}.',
    'a photo of a cool {}.',
    'a photo of a small {}.',
    'a tattoo of the {}.',
)

IMAGENET_TEMPLATES_7: tuple[str, ...] = (
    'itap of a {}.',
    'a bad photo of the {}.',
    'a origami {}.',
    'a photo of the large {}.',
    'a {} in a video game.',
    'art of the {}.',
    'a photo of the small {}.',
)


def check_template(template: str) -> str:
    """Return ``template`` unchanged if it holds exactly one ``{}``; else raise StrategyError."""
    count = template.count(PLACEHOLDER)
    if count != 1:
        found = "no" if count == 0 else str(count)
        raise StrategyError(
            f"Template '{template}' has {found} '{{}}' placeholders; each template needs exactly one "
            "'{}' where the class name goes, e.g. 'a photo of a {}.'."
        )
    return template


def parse_templates(text: str) -> list[str]:
    """Parse templates written one per line; blank lines and ``#`` comments are skipped."""
    templates: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        template = line.strip()
        if not template or template.startswith("#"):
            continue
        try:
            templates.append(check_template(template))
        except StrategyError as exc:
            raise StrategyError(f"Line {number}: {exc}") from None
    if not templates:
        raise StrategyError("No templates given: write one template per line, each with one '{}'.")
    return templates


def read_template_file(path: str) -> list[str]:
    """Read a template file (one template per line, see ``parse_templates``)."""
    return parse_templates(read_user_text(path, "template file", StrategyError))


def fill(template: str, name: str) -> str:
    """Put ``name`` where the template's ``{}`` is (no ``str.format``: names may hold braces)."""
    return check_template(template).replace(PLACEHOLDER, name)

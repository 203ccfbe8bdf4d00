"""Preset class sets: sizes, names at known indices, CLIP's per-dataset templates."""

from __future__ import annotations

import hashlib

import pytest

from prompting.classes import ClassName, as_class_names
from prompting.errors import StrategyError
from prompting.strategies.classsets import CLASS_SETS, ClassSet, get_class_set, list_class_sets
from prompting.strategies.templates import IMAGENET_TEMPLATES

EXPECTED = {
    # key: (classes, templates) as in CLIP's data/prompts.md and its ImageNet notebook
    "cifar10": (10, 18),
    "cifar100": (100, 18),
    "imagenet1k": (1000, 80),
    "food101": (101, 1),
    "pets": (37, 1),
    "flowers102": (102, 1),
    "eurosat": (10, 3),
    "cars": (196, 8),
}


def test_presets_are_listed_in_order() -> None:
    assert list_class_sets() == list(EXPECTED)
    assert list(CLASS_SETS) == list(EXPECTED)


@pytest.mark.parametrize(("key", "counts"), EXPECTED.items())
def test_counts(key: str, counts: tuple[int, int]) -> None:
    class_set = get_class_set(key)
    assert (len(class_set.classes), len(class_set.templates)) == counts
    assert class_set.key == key


@pytest.mark.parametrize(
    ("key", "index", "name"),
    [
        ("cifar10", 0, "airplane"),
        ("cifar10", 9, "truck"),
        ("cifar100", 0, "apple"),
        ("cifar100", 41, "lawn mower"),
        ("cifar100", 99, "worm"),
        ("imagenet1k", 0, "tench"),
        ("imagenet1k", 207, "Golden Retriever"),
        ("imagenet1k", 281, "tabby cat"),
        ("imagenet1k", 999, "toilet paper"),
        ("food101", 0, "apple pie"),
        ("food101", 100, "waffles"),
        ("pets", 0, "Abyssinian"),
        ("pets", 36, "Yorkshire Terrier"),
        ("flowers102", 0, "pink primrose"),
        ("flowers102", 101, "blackberry lily"),
        ("eurosat", 0, "annual crop land"),
        ("eurosat", 9, "lake or sea"),
        ("cars", 0, "AM General Hummer SUV 2000"),
        ("cars", 195, "smart fortwo Convertible 2012"),
    ],
)
def test_known_names_at_known_indices(key: str, index: int, name: str) -> None:
    assert get_class_set(key).classes[index] == name


@pytest.mark.parametrize(
    ("key", "first_template"),
    [
        ("cifar10", "a photo of a {}."),
        ("food101", "a photo of {}, a type of food."),
        ("pets", "a photo of a {}, a type of pet."),
        ("flowers102", "a photo of a {}, a type of flower."),
        ("eurosat", "a centered satellite photo of {}."),
        ("cars", "a photo of a {}."),
    ],
)
def test_first_template(key: str, first_template: str) -> None:
    assert get_class_set(key).templates[0] == first_template


def test_imagenet_uses_the_80_templates() -> None:
    assert get_class_set("imagenet1k").templates == IMAGENET_TEMPLATES


def test_cifar_sets_share_the_18_templates() -> None:
    assert get_class_set("cifar10").templates == get_class_set("cifar100").templates
    assert get_class_set("cars").templates[3] == "i love my {}!"


@pytest.mark.parametrize("key", EXPECTED)
def test_every_template_has_one_placeholder(key: str) -> None:
    assert [t for t in get_class_set(key).templates if t.count("{}") != 1] == []


@pytest.mark.parametrize("key", EXPECTED)
def test_no_duplicate_display_names(key: str) -> None:
    names = [c.display.casefold() for c in get_class_set(key).class_names()]
    assert len(names) == len(set(names)) == len(get_class_set(key).classes)


def test_imagenet_duplicates_get_distinct_display_names_but_keep_openai_prompts() -> None:
    names = get_class_set("imagenet1k").class_names()
    assert names[657] == ClassName.plain("missile")
    assert names[744] == ClassName(display="projectile", prompt="missile")
    assert names[836] == ClassName(display="sunglass", prompt="sunglasses")
    assert names[837] == ClassName.plain("sunglasses")


def test_class_names_match_parsing_the_lines() -> None:
    class_set = get_class_set("food101")
    assert class_set.class_names() == as_class_names(list(class_set.classes))
    assert class_set.class_names()[1] == ClassName.plain("baby back ribs")


def test_class_set_is_frozen() -> None:
    class_set = get_class_set("cifar10")
    assert isinstance(class_set, ClassSet)
    with pytest.raises(AttributeError):
        class_set.title = "x"  # type: ignore[misc]


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(StrategyError) as info:
        get_class_set("mnist")
    message = str(info.value)
    assert "'mnist'" in message
    for key in EXPECTED:
        assert key in message


def test_titles() -> None:
    assert {key: s.title for key, s in CLASS_SETS.items()} == {
        "cifar10": "CIFAR-10",
        "cifar100": "CIFAR-100",
        "imagenet1k": "ImageNet-1k",
        "food101": "Food-101",
        "pets": "Oxford-IIIT Pets",
        "flowers102": "Oxford Flowers 102",
        "eurosat": "EuroSAT",
        "cars": "Stanford Cars",
    }


# SHA-256 of "\n".join(classes) and of "\n".join(templates) per preset, taken from the data after
# it was checked against CLIP's data/prompts.md (with the changes the module notes): any edited,
# reordered, added or dropped class or template changes them.
CHECKSUMS = {
    "cifar10": ("bb3914949cecedee6d1257f7f5fdb8f43fa3b2c8095fd1763161caf1b873fe59",
                "9bbf912e1144ca4c7de308d478b5ced7ea3df9e61ce5d100ef184831bb5dc715"),
    "cifar100": ("60ae3a3ac1355fcfec19c0ea3cb5fde15203ecf3b537cabcf6d5d54688ee9a4d",
                 "9bbf912e1144ca4c7de308d478b5ced7ea3df9e61ce5d100ef184831bb5dc715"),
    "imagenet1k": ("fbd878d7b4240c277c683f9f064b2444527dccb92a73faeeb192afc7c0e608f9",
                   "4f976686fb651bb5803d4689dcd849f75efe0ef19a3c801355bc9a6f03c8a5af"),
    "food101": ("9c0eeb5a368baacb40650cccd4b8cbc4a735bfad22fddc8ba521a99d8892f690",
                "77a79bac7d9cf25b704d8c51158c1f16659cafee6035c8d63e27172ffaec2340"),
    "pets": ("50be1443390f8a02e835fed1dbc90ef03af4f27253569f3f55aede2cb62915be",
             "16a0790f0e45e97e33950cca7bb403ace4980897f60a295992f2e7aeb85507a1"),
    "flowers102": ("5429e1ef6e0e5aa3db2258257b28da08919bf32046a6854cf5f044ff1e8b79fd",
                   "bfcd4bbb214d501571cbd68b67ec7b6c86645edc476df3fe0f65c9249d3c50c7"),
    "eurosat": ("ee2e41b9973e7206862cbcded186c61be7b413418248f678e1bf80179da28d9c",
                "9bc85d9f1798d03b9991ddfa721493693040d8c222e2f8d8bbf5a0c3ca2507e8"),
    "cars": ("93d089469409bbd00725ce041797cad929e156fba50c3e19a0f49ef65efcb990",
             "255ecc632c41182cfacee31d66ce749bae084f8d3dbedd942d33806a841c8516"),
}


def _sha256_lines(items: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()


def test_every_preset_has_a_checksum() -> None:
    assert list(CHECKSUMS) == list(CLASS_SETS)


@pytest.mark.parametrize("key", EXPECTED)
def test_class_list_is_pinned_by_checksum(key: str) -> None:
    assert _sha256_lines(get_class_set(key).classes) == CHECKSUMS[key][0]


@pytest.mark.parametrize("key", EXPECTED)
def test_templates_are_pinned_by_checksum(key: str) -> None:
    assert _sha256_lines(get_class_set(key).templates) == CHECKSUMS[key][1]


def test_the_checksum_notices_a_swap_of_two_classes() -> None:
    classes = list(get_class_set("cifar10").classes)
    classes[0], classes[1] = classes[1], classes[0]
    assert _sha256_lines(tuple(classes)) != CHECKSUMS["cifar10"][0]

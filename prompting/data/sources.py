"""Where a data set's images come from, enumerated deterministically and read as raw bytes.

A SOURCE is one of:
- ``folder``: an image-folder data set (``<class>/<image>``, labels from folder names) or a
  flat folder of images, scanned as ``datasets.scan_folder`` does;
- ``imagefolder``: a Hugging Face ``imagefolder`` layout with a ``metadata.jsonl`` or
  ``metadata.csv`` (``file_name`` and an optional ``label`` column) at its top;
- ``list``: a text file of image paths, one per line (relative to the file's folder), each
  optionally followed by a tab and its class name; blank lines and ``#`` comments are ignored;
- ``hf``: a Hugging Face ``datasets`` data set saved with ``save_to_disk`` (one split, or a
  ``DatasetDict`` with ``split`` naming one): the first ``Image`` column, labels from the first
  ``ClassLabel`` column (or a ``label`` column of names or indices);
- ``tar``: webdataset shards (``.tar`` files, or a folder of them), read with the standard
  ``tarfile`` module: members sharing a key (the path up to the first dot of the file name)
  form a sample; its image is the first member whose extension ends in an image type
  (``jpg``, ``png``, ``seg.png``...) and its label, if any, the integer in its ``.cls`` member.

Each item has a stable ``id`` (relative path, ``shard.tar/key`` or ``split/row``), a label and
a ``locator`` that ``SourceReader.read`` turns back into bytes from the ``SourceSpec`` alone,
so Ray workers reopen a source without enumerating it. Labels are indices into ``classes``
when the source names its classes, else (``label_kind == "indices"``) positions in the class
list the user gives later. Samples that cannot even be enumerated (a webdataset key without an
image, a truncated tar) are listed in ``rejected`` with their reason.
"""

from __future__ import annotations

import csv
import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from prompting.data.datasets import scan_folder
from prompting.encoding.images import IMAGE_EXTENSIONS
from prompting.errors import DatasetError

SourceKind = Literal["folder", "imagefolder", "list", "hf", "tar"]
LabelKind = Literal["names", "indices", "none"]
MAX_IMAGE_BYTES = 100 * 2**20
METADATA_FILES = ("metadata.jsonl", "metadata.csv")
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
LIST_SUFFIXES = (".txt", ".lst", ".list", ".tsv")
TAR_SUFFIX = ".tar"
LABEL_SUFFIX = "cls"
MAX_LABEL_BYTES = 64


@dataclass(frozen=True)
class SourceSpec:
    """Everything needed to reopen a source anywhere: its kind, absolute root and split."""

    kind: SourceKind
    root: str
    split: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSpec:
        """The spec written by ``as_dict``."""
        return cls(kind=data["kind"], root=data["root"], split=data.get("split"))


@dataclass(frozen=True)
class SourceItem:
    """One image of a source: stable id, label (see the module docstring) and locator."""

    id: str
    label: int | None
    locator: str


@dataclass
class Source:
    """An enumerated source: its items in a fixed order, class names, and rejected samples."""

    spec: SourceSpec
    items: list[SourceItem]
    classes: list[str] | None
    label_kind: LabelKind
    rejected: list[dict[str, str]] = field(default_factory=list)


def open_source(location: str | Path, split: str | None = None) -> Source:
    """Detect the kind of source at ``location`` and enumerate its items."""
    path = Path(location).expanduser()
    if not path.exists():
        raise DatasetError(f"The source '{location}' does not exist.")
    root = path.resolve()
    if root.is_dir() and any((root / marker).is_file() for marker in HF_MARKERS):
        return _hf_source(root, split)
    if split is not None:
        raise DatasetError(f"'{path.name}' is not a saved Hugging Face data set, so it has no splits; leave out --split.")
    if root.is_file():
        if root.suffix.lower() == TAR_SUFFIX:
            return _tar_source(SourceSpec("tar", str(root.parent)), [root])
        if root.suffix.lower() in LIST_SUFFIXES:
            return _list_source(root)
        raise DatasetError(
            f"'{location}' is a file but neither a webdataset shard (.tar) nor a list of image paths "
            f"({', '.join(LIST_SUFFIXES)})."
        )
    if any((root / name).is_file() for name in METADATA_FILES):
        return _imagefolder_source(root)
    tars = sorted(p for p in root.iterdir() if p.suffix.lower() == TAR_SUFFIX and p.is_file())
    if tars and not _has_images(root):
        return _tar_source(SourceSpec("tar", str(root)), tars)
    return _folder_source(root)


def _has_images(root: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.rglob("*") if p.is_file())


def _folder_source(root: Path) -> Source:
    scanned = scan_folder(root)
    items = [
        SourceItem(id=(rel := path.relative_to(root).as_posix()), label=label, locator=rel)
        for path, label in scanned.items
    ]
    return Source(
        SourceSpec("folder", str(root)), items, scanned.classes if scanned.labeled else None,
        "names" if scanned.labeled else "none",
    )


def _named_labels(pairs: list[tuple[str, str | None]], spec: SourceSpec) -> Source:
    """Items from (relative path, class name or None), classes = the sorted distinct names."""
    names = sorted({name for _, name in pairs if name})
    index = {name: i for i, name in enumerate(names)}
    items = [SourceItem(id=path, label=index[name] if name else None, locator=path) for path, name in pairs]
    return Source(spec, items, names or None, "names" if names else "none")


def _list_source(list_file: Path) -> Source:
    """One path per line (optionally ``path<TAB>class``), relative to the list file's folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read the list of images '{list_file}': {exc}.") from exc
    pairs: list[tuple[str, str | None]] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        path, _, label = line.partition("\t")
        pairs.append((path.strip(), label.strip() or None))
    if not pairs:
        raise DatasetError(f"The list of images '{list_file}' names no images.")
    _refuse_repeats([path for path, _ in pairs], f"the list '{list_file.name}'")
    return _named_labels(pairs, SourceSpec("list", str(list_file)))


def _imagefolder_source(root: Path) -> Source:
    """A Hugging Face imagefolder: ``file_name`` (and ``label``) per row of its metadata file."""
    rows = _metadata_rows(root)
    if not rows or any("file_name" not in row for row in rows):
        raise DatasetError(f"The metadata file in '{root}' needs a 'file_name' column on every row.")
    labels = [row.get("label") for row in rows]
    paths = [str(row["file_name"]) for row in rows]
    _refuse_repeats(paths, f"the metadata of '{root.name}'")
    if all(isinstance(label, int) or label is None for label in labels) and any(labels):
        items = [SourceItem(id=path, label=label, locator=path) for path, label in zip(paths, labels)]
        return Source(SourceSpec("imagefolder", str(root)), items, None, "indices")
    named = [(path, None if label in (None, "") else str(label)) for path, label in zip(paths, labels)]
    return _named_labels(named, SourceSpec("imagefolder", str(root)))


def _metadata_rows(root: Path) -> list[dict[str, Any]]:
    jsonl, table = (root / name for name in METADATA_FILES)
    try:
        if jsonl.is_file():
            return [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
        with table.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the metadata file in '{root}': {exc}.") from exc


def _refuse_repeats(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise DatasetError(f"'{item}' appears twice in {where}; each image must be listed once.")
        seen.add(item)


@dataclass
class _Sample:
    """The members of one webdataset sample that matter here."""

    image: tarfile.TarInfo | None = None
    label_text: str | None = None


def _tar_source(spec: SourceSpec, tars: list[Path]) -> Source:
    """Webdataset samples of each shard in archive order; shards in name order."""
    items: list[SourceItem] = []
    rejected: list[dict[str, str]] = []
    for tar_path in tars:
        samples, problem = _tar_samples(tar_path)
        for key, sample in samples.items():
            sample_id = f"{tar_path.name}/{key}"
            if sample.image is None:
                rejected.append({"id": sample_id, "reason": f"Sample '{sample_id}' has no image member."})
                continue
            label, problem_text = _class_index(sample.label_text, sample_id)
            if problem_text:
                rejected.append({"id": sample_id, "reason": problem_text})
                continue
            locator = f"{tar_path.name}:{sample.image.offset_data}:{sample.image.size}"
            items.append(SourceItem(id=sample_id, label=label, locator=locator))
        if problem:
            rejected.append({"id": tar_path.name, "reason": problem})
    if not items:
        raise DatasetError(f"No image samples found in the webdataset shards under '{spec.root}'.")
    has_labels = any(item.label is not None for item in items)
    return Source(spec, items, None, "indices" if has_labels else "none", rejected)


def _tar_samples(tar_path: Path) -> tuple[dict[str, _Sample], str | None]:
    """Samples by webdataset key in archive order, and why reading stopped early (None if it did not)."""
    samples: dict[str, _Sample] = {}
    try:
        with tarfile.open(tar_path, mode="r:") as archive:
            for member in archive:
                folder, _, name = member.name.rpartition("/")
                stem, dot, extension = name.partition(".")
                if not member.isfile() or not dot or stem.startswith("."):
                    continue
                sample = samples.setdefault(f"{folder}/{stem}" if folder else stem, _Sample())
                extension = extension.lower()
                if f".{extension.rpartition('.')[2]}" in IMAGE_EXTENSIONS and sample.image is None:
                    sample.image = member
                elif extension == LABEL_SUFFIX and member.size <= MAX_LABEL_BYTES:
                    handle = archive.extractfile(member)
                    sample.label_text = handle.read().decode("utf-8", "replace").strip() if handle else None
    except (tarfile.TarError, OSError, EOFError) as exc:
        return samples, f"Shard '{tar_path.name}' is unreadable or truncated after {len(samples)} samples ({exc})."
    return samples, None


def _class_index(text: str | None, sample_id: str) -> tuple[int | None, str | None]:
    """A webdataset ``.cls`` value as a class index, or why it is not one."""
    if text is None:
        return None, None
    try:
        return int(text), None
    except ValueError:
        return None, f"Label '{text[:40]}' of sample '{sample_id}' is not a class index."


def _hf_source(root: Path, split: str | None) -> Source:
    """A data set saved with ``save_to_disk``; rows in stored order."""
    dataset, split = _load_hf(root, split)
    _image_column(dataset, root)  # a set without images fails before any work
    label_column, names = _label_column(dataset)
    labels = dataset[label_column] if label_column else [None] * len(dataset)
    prefix = f"{split}/" if split else ""
    kind: LabelKind = "none"
    if label_column and names is None and all(isinstance(v, str) or v is None for v in labels):
        names = sorted({v for v in labels if v})
        position = {name: i for i, name in enumerate(names)}
        labels = [position[v] if v else None for v in labels]
    if label_column:
        kind = "names" if names is not None else "indices"
    items = [
        SourceItem(id=f"{prefix}{row}", label=None if label is None or label < 0 else int(label), locator=str(row))
        for row, label in enumerate(labels)
    ]
    return Source(SourceSpec("hf", str(root), split), items, names, kind)


def _load_hf(root: Path, split: str | None) -> tuple[Any, str | None]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(root))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetError(f"Cannot load the Hugging Face data set in '{root}': {exc}.") from exc
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in loaded:
            raise DatasetError(
                f"Choose a split of '{root.name}' with --split: {', '.join(splits)}." if split is None
                else f"'{root.name}' has no split '{split}'; it has: {', '.join(splits)}."
            )
        return loaded[split], split
    if split is not None:
        raise DatasetError(f"'{root.name}' is a single data set without splits; leave out --split.")
    return loaded, None


def _image_column(dataset: Any, root: Path) -> str:
    import datasets

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image):
            return name
    raise DatasetError(f"The data set in '{root}' has no Image column.")


def _label_column(dataset: Any) -> tuple[str | None, list[str] | None]:
    """The first ClassLabel column with its names, else a plain ``label`` column."""
    import datasets

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.ClassLabel):
            return name, list(feature.names)
    return ("label", None) if "label" in dataset.features else (None, None)


def _read_range(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size)


class SourceReader:
    """Reads an item's raw bytes from its locator; built from a ``SourceSpec`` alone."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        root = Path(spec.root)
        self.folder = root.parent if spec.kind == "list" else root
        self._hf: tuple[Any, str] | None = None

    def read(self, locator: str) -> bytes:
        """The item's bytes; ``OSError`` (with a readable message) when they cannot be had."""
        if self.spec.kind == "tar":
            name, offset, size = locator.rsplit(":", 2)
            _check_size(int(size), locator)
            return _read_range(self._inside(name), int(offset), int(size))
        if self.spec.kind == "hf":
            return self._hf_bytes(int(locator))
        path = self.folder / locator
        if self.spec.kind != "list":
            path = self._inside(locator)
        _check_size(path.stat().st_size, locator)
        return path.read_bytes()

    def _inside(self, relative: str) -> Path:
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            raise OSError(f"'{relative}' lies outside the source folder")
        return path

    def _hf_bytes(self, row: int) -> bytes:
        if self._hf is None:
            dataset, _ = _load_hf(Path(self.spec.root), self.spec.split)
            column = _image_column(dataset, Path(self.spec.root))
            import datasets

            self._hf = (dataset.cast_column(column, datasets.Image(decode=False)), column)
        dataset, column = self._hf
        value = dataset[row][column] or {}
        if value.get("bytes"):
            _check_size(len(value["bytes"]), f"row {row}")
            return bytes(value["bytes"])
        if value.get("path"):
            path = Path(value["path"])
            _check_size(path.stat().st_size, f"row {row}")
            return path.read_bytes()
        raise OSError(f"row {row} holds no image")


def _check_size(size: int, what: str) -> None:
    if size > MAX_IMAGE_BYTES:
        limit = MAX_IMAGE_BYTES // 2**20
        raise OSError(f"'{what}' is {size / 2**20:.0f} MiB, more than the {limit} MiB allowed per image")

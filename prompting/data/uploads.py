"""Safe extraction of uploaded zip archives (no traversal, no symlinks, bounded size)."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path
from typing import IO

from prompting.errors import DatasetError

DEFAULT_MAX_TOTAL_BYTES = 200 * 2**20
DEFAULT_MAX_FILES = 2000
CHUNK_BYTES = 2**20
JUNK_FOLDER = "__MACOSX"
ENCRYPTED_FLAG = 0x1
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

Plan = list[tuple[zipfile.ZipInfo, tuple[str, ...]]]


def extract_zip_safely(
    zip_path: str | Path,
    target_dir: str | Path,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> Path:
    """Extract ``zip_path`` into ``target_dir`` and return the data's root folder.

    The whole archive is refused (``DatasetError``) before anything is written if an entry
    has an absolute path, uses ``..``, is a symlink or encrypted, or would land outside
    ``target_dir``; if it holds more than ``max_files`` files; or if the declared sizes add
    up to more than ``max_total_bytes``. Bytes are counted again while streaming, so a lying
    header cannot exceed the limit. ``__MACOSX/`` and hidden (dot) entries are skipped; an
    existing file is never overwritten. If every file sits in one top-level folder, that
    folder is returned (a zip of ``flowers/<class>/<image>`` scans as-is), else
    ``target_dir``. On failure, the files and folders written so far are removed.
    """
    zip_path, target = Path(zip_path), Path(target_dir)
    label = zip_path.name
    try:
        archive = zipfile.ZipFile(zip_path)
    except FileNotFoundError as exc:
        raise DatasetError(f"The archive '{label}' does not exist.") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"'{label}' is not a readable zip archive ({exc}).") from exc
    with archive:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"Cannot create the upload folder '{target}' ({exc.strerror or exc}).") from exc
        plan = _plan(archive, target.resolve(), label, max_total_bytes, max_files)
        _extract(archive, plan, target, label, max_total_bytes)
    tops = {parts[0] for _, parts in plan}
    if len(tops) == 1 and all(len(parts) > 1 for _, parts in plan):
        return target / tops.pop()
    return target


def _entry_parts(name: str, label: str) -> tuple[str, ...]:
    """Split an entry name (``/`` or ``\\`` separated) into path parts, refusing unsafe ones."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or WINDOWS_DRIVE.match(normalized):
        raise DatasetError(f"'{label}' contains an entry with an absolute path ('{name}'); refusing to extract.")
    parts = tuple(part for part in normalized.split("/") if part not in ("", "."))
    if ".." in parts:
        raise DatasetError(f"'{label}' contains an entry that climbs out of the archive with '..' ('{name}').")
    return parts


def _is_skipped(info: zipfile.ZipInfo, parts: tuple[str, ...]) -> bool:
    """Folders, macOS ``__MACOSX/`` junk and hidden (dot) files or folders."""
    return info.is_dir() or not parts or parts[0] == JUNK_FOLDER or any(p.startswith(".") for p in parts)


def _plan(archive: zipfile.ZipFile, target: Path, label: str, max_total_bytes: int, max_files: int) -> Plan:
    """Check every entry before anything is written; return the files to extract."""
    plan: Plan = []
    declared = 0
    for info in archive.infolist():
        parts = _entry_parts(info.filename, label)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"'{label}' contains a symbolic link ('{info.filename}'); refusing to extract.")
        if _is_skipped(info, parts):
            continue
        if info.flag_bits & ENCRYPTED_FLAG:
            raise DatasetError(f"'{label}' is password-protected ('{info.filename}'); upload an unencrypted zip.")
        if not target.joinpath(*parts).resolve().is_relative_to(target):
            raise DatasetError(f"'{label}' entry '{info.filename}' would be written outside the upload folder.")
        plan.append((info, parts))
        if len(plan) > max_files:
            raise DatasetError(f"'{label}' holds more than {max_files} files; upload at most {max_files}.")
        declared += info.file_size
        if declared > max_total_bytes:
            raise DatasetError(f"'{label}' would unpack to more than {_mebibytes(max_total_bytes)}.")
    if not plan:
        raise DatasetError(f"'{label}' contains no files to extract.")
    return plan


def _mebibytes(n_bytes: int) -> str:
    """A size for messages, e.g. ``200 MiB``."""
    return f"{n_bytes / 2**20:g} MiB"


def _extract(archive: zipfile.ZipFile, plan: Plan, target: Path, label: str, max_total_bytes: int) -> None:
    """Write the planned files, counting real bytes; undo everything written on failure."""
    created: list[Path] = []
    budget = max_total_bytes
    try:
        for info, parts in plan:
            destination = target.joinpath(*parts)
            created.extend(_make_parents(destination.parent))
            with archive.open(info) as source, open(destination, "xb") as sink:
                created.append(destination)
                budget -= _copy_limited(source, sink, budget, label)
    except DatasetError:
        _undo(created)
        raise
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        _undo(created)
        raise DatasetError(f"'{label}' could not be extracted ({exc}).") from exc


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the ones created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    for path in missing:
        path.mkdir()
    return missing


def _copy_limited(source: IO[bytes], sink: IO[bytes], budget: int, label: str) -> int:
    """Copy ``source`` to ``sink`` in chunks, refusing once more than ``budget`` bytes arrive."""
    copied = 0
    while chunk := source.read(CHUNK_BYTES):
        copied += len(chunk)
        if copied > budget:
            raise DatasetError(f"'{label}' unpacks to more data than its headers declare or the limit allows.")
        sink.write(chunk)
    return copied


def _undo(created: list[Path]) -> None:
    """Remove created files and (now empty) folders, innermost first."""
    for path in reversed(created):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)

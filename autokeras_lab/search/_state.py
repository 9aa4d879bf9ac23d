"""Consistent copies of Ray Tune's saved experiment state, for a search to resume from.

Tune saves its state (the trials, the searcher's, the scheduler's) into a staging
directory on the driver, then copies that to the search's storage in the background,
file by file and in place. A driver killed during the copy leaves a truncated or
mixed set there, and Tune, finding it unreadable, silently starts the search over: a
resumed search then ran one new trial numbered 1 again and called itself complete.

So the driver keeps its own copies: from the controller's thread, where Tune's saves
also run and none can be half done, it copies the staging files into a new numbered
directory that appears by an atomic rename (:func:`take_snapshot`). A resume puts the
newest copy back in place of Tune's own before Tune reads it (:func:`restore_snapshot`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from autokeras_lab._ray_internals import STATE_GLOB, is_state_file

__all__ = ["newest_snapshot", "restore_snapshot", "take_snapshot"]



def take_snapshot(
    staging: Path, root: Path, seen: tuple[int, int] | None
) -> tuple[tuple[int, int], str] | None:
    """Copy Tune's staged state files into a new directory under ``root`` if they
    changed since ``seen``; return the new stamp and the experiment state's text.

    Call it only from Tune's controller thread (a callback): Tune writes the staging
    files there too, so they are complete and belong together.
    """
    states = sorted(staging.glob(STATE_GLOB))
    if not states:
        return None
    info = states[-1].stat()
    stamp = (info.st_mtime_ns, info.st_size)
    if stamp == seen:
        return None
    root.mkdir(parents=True, exist_ok=True)
    earlier = _numbered(root)
    number = int(earlier[-1].name) + 1 if earlier else 1
    tmp = root / f".tmp-{number:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for path in staging.iterdir():
        if path.is_file():
            shutil.copy2(path, tmp / path.name)
    text = (tmp / states[-1].name).read_text(encoding="utf-8")
    os.replace(tmp, root / f"{number:08d}")  # the copy appears whole or not at all
    for old in earlier:
        shutil.rmtree(old, ignore_errors=True)
    return stamp, text


def newest_snapshot(root: Path) -> Path | None:
    """The newest complete copy under ``root``, if any."""
    found = _numbered(root) if root.is_dir() else []
    return found[-1] if found else None


def restore_snapshot(root: Path, tune_dir: str) -> bool:
    """Put the newest copy under ``root`` in place of Tune's own state files in
    ``tune_dir`` (a path or a URI). Returns whether there was one."""
    import pyarrow.fs as pafs

    snapshot = newest_snapshot(root)
    if snapshot is None:
        return False
    try:
        fs, path = pafs.FileSystem.from_uri(tune_dir)
    except (pafs.ArrowInvalid, ValueError):
        fs, path = pafs.LocalFileSystem(), tune_dir
    for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
        if info.type == pafs.FileType.File and is_state_file(info.base_name):
            fs.delete_file(info.path)
    for file in sorted(snapshot.iterdir()):
        with fs.open_output_stream(f"{path}/{file.name}") as stream:
            stream.write(file.read_bytes())
    return True


def _numbered(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())

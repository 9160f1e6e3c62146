"""Atomic writes: a reader sees the old file or folder or the new one, never half of either."""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psutil

STAGING = ".{name}.tmp-{pid}"  # a folder being written, beside its final place; the pid tells whose it is


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def staging_dirs(final: Path) -> list[Path]:
    """The folders being written for `final`, by this process or any other."""
    final = Path(final)
    return sorted(final.parent.glob(STAGING.format(name=final.name, pid="*")))


@contextmanager
def staged_dir(final: Path):
    """Yield an empty staging folder beside `final`; when the block ends, move it into place (replacing any older
    copy), or remove it if the block raised. Staging folders of processes that died are removed first."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in staging_dirs(final):
        if not psutil.pid_exists(int(stale.name.rsplit("-", 1)[1])):
            shutil.rmtree(stale, ignore_errors=True)
    staging = final.with_name(STAGING.format(name=final.name, pid=os.getpid()))
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        replace_dir(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_dir(staging: Path, final: Path) -> None:
    """Move a finished folder into place, replacing any older copy (on one filesystem: a rename)."""
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)

"""The git state of the code: which commit, and whether tracked files have uncommitted changes."""

import subprocess

from .paths import ROOT


def git(*args: str) -> str | None:
    """A git command's output in the repository, or None where git cannot answer (no git, not a clone)."""
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def git_state() -> dict:
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None}

"""Child processes whose failure is told in one line: their last line of stderr."""

import subprocess


class ChildFailed(RuntimeError):
    """A child process exited non-zero; the message is its last line of stderr."""


def run_checked(command: list[str], timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise ChildFailed((result.stderr.strip().splitlines() or ["(no message)"])[-1])
    return result

"""Content hashes: of bytes, of files, and of JSON-able values (the cache keys of runs and benchmark cells)."""

import hashlib
import json
from pathlib import Path


def sha256_hex(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def files_hash(paths, length: int = 16) -> str:
    """One hash of the files' contents, in the order given."""
    return sha256_hex(*(Path(p).read_bytes() for p in paths))[:length]


def value_hash(value, length: int = 12) -> str:
    """A hash of a JSON-able value, independent of key order."""
    return sha256_hex(json.dumps(value, sort_keys=True, default=str).encode())[:length]

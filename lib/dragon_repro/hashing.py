"""Content hashes: of bytes, of files, of what code computes, and of JSON-able values (the cache keys of runs,
reference points and benchmark cells)."""

import ast
import hashlib
import json
from pathlib import Path

import yaml

_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


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


def code_hash(paths, length: int = 16) -> str:
    """One hash of what the files compute, in the order given: a Python module's syntax tree without its docstrings
    (comments and formatting are not in the tree), a YAML file's parsed content. An edit to a docstring, a comment
    or the layout changes nothing; the same on CPython 3.10-3.13."""
    return value_hash([_meaning(Path(p)) for p in paths], length)


def _meaning(path: Path):
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text)
    return _canonical(_without_docstrings(ast.parse(text, filename=str(path))))


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, _DOCUMENTED) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:]
    return tree


def _canonical(node):
    """A node as its type name and its non-empty fields, recursively (positions are attributes, not fields): not
    `ast.dump`, whose format changed across Python versions (3.13 leaves out empty fields)."""
    if isinstance(node, ast.AST):
        return [type(node).__name__, {name: _canonical(value) for name, value in ast.iter_fields(node)
                                      if value is not None and value != []}]
    if isinstance(node, list):
        return [_canonical(item) for item in node]
    return repr(node)  # a constant's value and type: 1, 1.0 and '1' differ

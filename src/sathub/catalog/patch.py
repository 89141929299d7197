"""JSON Merge Patch (RFC 7396) and JSON Patch (RFC 6902) for items and collections."""

from __future__ import annotations

import copy
from typing import Any

from sathub.errors import InvalidInput


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise InvalidInput(f"JSON pointer {path!r} must start with '/'", field="path")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for p in parts[:-1]:
        if isinstance(node, list):
            try:
                node = node[int(p)]
            except (ValueError, IndexError) as exc:
                raise InvalidInput(f"path {path!r} does not exist", field="path") from exc
        elif isinstance(node, dict) and p in node:
            node = node[p]
        else:
            raise InvalidInput(f"path {path!r} does not exist", field="path")
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    key = parts[-1]
    try:
        return parent[int(key)] if isinstance(parent, list) else parent[key]
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise InvalidInput(f"path {path!r} does not exist", field="path") from exc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    key = parts[-1]
    try:
        if isinstance(parent, list):
            return parent.pop(int(key))
        return parent.pop(key)
    except (KeyError, ValueError, IndexError) as exc:
        raise InvalidInput(f"path {path!r} does not exist", field="path") from exc


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    key = parts[-1]
    if isinstance(parent, list):
        if key == "-":
            parent.append(value)
        else:
            try:
                parent.insert(int(key), value)
            except ValueError as exc:
                raise InvalidInput(f"bad array index in {path!r}", field="path") from exc
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise InvalidInput(f"path {path!r} does not exist", field="path")
    return doc


def json_patch(target: Any, ops: list[Any]) -> Any:
    """RFC 6902 add/remove/replace/move/copy/test, all or nothing."""
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise InvalidInput(f"patch operation {i} needs 'op' and 'path'", field="patch")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise InvalidInput(f"patch test failed at {path!r}", field="patch")
        else:
            raise InvalidInput(f"unknown patch op {kind!r}", field="patch")
    return doc


def apply_patch(target: dict[str, Any], body: Any, content_type: str) -> dict[str, Any]:
    """A JSON Patch list (application/json-patch+json, or any list) or a merge patch."""
    if isinstance(body, list) or "json-patch" in content_type:
        if not isinstance(body, list):
            raise InvalidInput("a JSON Patch body must be an array of operations", field="body")
        out = json_patch(target, body)
    else:
        if not isinstance(body, dict):
            raise InvalidInput("a merge patch body must be a JSON object", field="body")
        out = merge_patch(target, body)
    if not isinstance(out, dict):
        raise InvalidInput("the patch does not leave a JSON object", field="body")
    return out

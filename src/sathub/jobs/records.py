"""JSON helpers of job records: times, NaN-free JSON, atomic writes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from sathub import timeutil


def now_iso() -> str:
    return timeutil.now_iso()


def clean_json(doc: Any) -> Any:
    """NaN and ±inf → null (JSON has neither), tuples → lists."""
    if isinstance(doc, float) and (math.isnan(doc) or math.isinf(doc)):
        return None
    if isinstance(doc, dict):
        return {k: clean_json(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [clean_json(v) for v in doc]
    return doc


def write_json(path: Path, doc: Any) -> None:
    """Write a JSON document atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(clean_json(doc), default=str))
    tmp.replace(path)

"""Band-math expressions: ``(nir08-red)/(nir08+red)`` or ``(b4-b3)/(b4+b3)``.

Bands are named ``b1``…``bN`` (file order) or by their ``eo:bands`` name / common name
(``B04``, ``red``); several outputs are separated by ``;``. :func:`compile_expression`
checks everything that can be checked before reading pixels and raises
:class:`~sathub.errors.InvalidInput` naming the problem: syntax, unknown band or function,
division by a constant zero. Division by zero *in the data* gives a masked (transparent) pixel.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from numexpr.expressions import functions as NUMEXPR_FUNCTIONS

from sathub.errors import InvalidInput

MAX_LENGTH = 1000
_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant, ast.Name, ast.Call,
    ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip
_BAND = re.compile(r"^b(\d+)$", re.IGNORECASE)


def band_aliases(eo_bands: Sequence[dict] | None) -> dict[str, int]:
    """Lower-cased band names and common names → 1-based band index."""
    out: dict[str, int] = {}
    for i, band in enumerate(eo_bands or [], start=1):
        for key in ("common_name", "name"):  # name wins over common_name on a clash
            v = band.get(key) if isinstance(band, dict) else None
            if isinstance(v, str) and v:
                out[v.lower()] = i
    return out


def compile_expression(expr: str, band_count: int, aliases: dict[str, int] | None = None) -> str:
    """The expression rewritten to rio-tiler's ``bN`` names, after validation."""
    if not expr or not expr.strip():
        raise InvalidInput("expression is empty", field="expression")
    if len(expr) > MAX_LENGTH:
        raise InvalidInput(f"expression is longer than {MAX_LENGTH} characters", field="expression")
    aliases = aliases or {}
    blocks = [b.strip() for b in expr.split(";") if b.strip()]
    out: list[str] = []
    for block in blocks:
        try:
            tree = ast.parse(block, mode="eval")
        except SyntaxError as exc:
            raise InvalidInput(
                f"expression syntax error in {block!r}: {exc.msg}", field="expression"
            ) from None
        callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise InvalidInput(
                    f"expression: {type(node).__name__} is not allowed", field="expression"
                )
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in NUMEXPR_FUNCTIONS:
                    name = getattr(node.func, "id", "?")
                    raise InvalidInput(f"expression: unknown function {name!r}", field="expression")
            elif isinstance(node, ast.Name) and id(node) not in callees:
                m = _BAND.match(node.id)
                idx = int(m.group(1)) if m else aliases.get(node.id.lower())
                if idx is None or not 1 <= idx <= band_count:
                    raise InvalidInput(
                        f"expression: unknown band {node.id!r} (the asset has bands b1…b{band_count}"
                        + (f" or {', '.join(sorted(aliases))}" if aliases else "") + ")",
                        field="expression",
                    )  # fmt: skip
                node.id = f"b{idx}"
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mod)):
                try:
                    divisor = ast.literal_eval(node.right)
                except (ValueError, TypeError, SyntaxError, ZeroDivisionError):
                    continue
                if isinstance(divisor, (int, float)) and divisor == 0:
                    raise InvalidInput(
                        f"expression: division by zero in {block!r}", field="expression"
                    )
        out.append(ast.unparse(tree))
    if not out:
        raise InvalidInput("expression is empty", field="expression")
    return ";".join(out)

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
from sathub.tiles.limits import RenderLimits

_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant, ast.Name, ast.Call,
    ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip
_BAND = re.compile(r"^b(\d+)$", re.IGNORECASE)
# what the parser turns into one node each: names, numbers, and every operator character
_TERM = re.compile(r"[A-Za-z_]\w*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|[-+*/%<>=!~&|^(]")


def check_limits(expr: str, limits: RenderLimits) -> list[str]:
    """The expression's outputs (``;``-separated blocks) once its length, number of outputs
    and number of terms are within ``limits``; checked on the text, before any parser."""
    if not expr or not expr.strip():
        raise InvalidInput("expression is empty", field="expression")
    if len(expr) > limits.max_expression_length:
        raise InvalidInput(f"expression is longer than {limits.max_expression_length} characters "
                           "(SATHUB_MAX_EXPRESSION_LENGTH)", field="expression")  # fmt: skip
    blocks = [b.strip() for b in expr.split(";") if b.strip()]
    if not blocks:
        raise InvalidInput("expression is empty", field="expression")
    if len(blocks) > limits.max_expression_outputs:
        raise InvalidInput(f"expression has {len(blocks)} outputs; at most "
                           f"{limits.max_expression_outputs} (SATHUB_MAX_EXPRESSION_OUTPUTS)",
                           field="expression")  # fmt: skip
    terms = len(_TERM.findall(expr))
    if terms > limits.max_expression_nodes:
        raise InvalidInput(f"expression has {terms} terms; at most {limits.max_expression_nodes} "
                           "(SATHUB_MAX_EXPRESSION_NODES)", field="expression")  # fmt: skip
    return blocks


def band_aliases(eo_bands: Sequence[dict] | None) -> dict[str, int]:
    """Lower-cased band names and common names → 1-based band index."""
    out: dict[str, int] = {}
    for i, band in enumerate(eo_bands or [], start=1):
        for key in ("common_name", "name"):  # name wins over common_name on a clash
            v = band.get(key) if isinstance(band, dict) else None
            if isinstance(v, str) and v:
                out[v.lower()] = i
    return out


def _number(value: object) -> float:
    """A constant as a float: numexpr folds constant sub-expressions with Python numbers, and
    integer powers such as ``9**9**9`` would run for hours where floats overflow at once."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"expression: {value!r} is not a number", field="expression")
    try:
        return float(value)
    except OverflowError:
        raise InvalidInput(f"expression: the number {str(value)[:40]}… is too large",
                           field="expression") from None  # fmt: skip


def compile_expression(
    expr: str, band_count: int, aliases: dict[str, int] | None = None,
    limits: RenderLimits | None = None,
) -> str:  # fmt: skip
    """The expression rewritten to rio-tiler's ``bN`` names, after validation."""
    blocks = check_limits(expr, limits or RenderLimits())
    aliases = aliases or {}
    out: list[str] = []
    for block in blocks:
        try:
            tree = ast.parse(block, mode="eval")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            msg = exc.msg if isinstance(exc, SyntaxError) else "nested too deeply"
            raise InvalidInput(f"expression syntax error in {block[:80]!r}: {msg}",
                               field="expression") from None  # fmt: skip
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
            elif isinstance(node, ast.Constant):
                node.value = _number(node.value)
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mod)):
                try:
                    divisor = ast.literal_eval(node.right)
                except (ValueError, TypeError, SyntaxError, ZeroDivisionError):
                    continue
                if isinstance(divisor, (int, float)) and divisor == 0:
                    raise InvalidInput(
                        f"expression: division by zero in {block!r}", field="expression"
                    )
        if not any(isinstance(n, ast.Name) and id(n) not in callees for n in ast.walk(tree)):
            raise InvalidInput(f"expression: {block[:80]!r} names no band", field="expression")
        out.append(ast.unparse(tree))
    return ";".join(out)

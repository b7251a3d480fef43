"""Evaluate a small tensor expression typed on the command line, safely.

``evaluate("(a*b + c).sigmoid()")`` parses the text with :mod:`ast` and walks the tree itself;
nothing is ever passed to ``eval``. Allowed: numbers, variable names (one per leaf tensor),
``+ - * / ** @`` and unary minus, calls of a whitelist of chainrule functions (``tanh(a)``,
``chainrule.exp(a)``, ``torch.exp(a)``) and methods (``a.sigmoid()``, ``x.sum()``), with number
arguments. Anything else (attributes, subscripts, imports, lambdas, strings, dunder names)
is refused with the position of the offending piece.
"""
import ast

import numpy as np

__all__ = ["evaluate", "ExpressionError", "FUNCTIONS", "DEFAULT_VALUES"]

# What may be called: name -> how many tensor arguments it takes at most (the rest must be numbers).
FUNCTIONS = {
    "sigmoid", "tanh", "relu", "exp", "log", "sqrt", "abs", "square", "sin", "cos", "neg", "pow",
    "sum", "mean", "max", "min", "matmul", "mm", "dot", "softmax", "log_softmax", "t", "reciprocal",
    "maximum", "minimum", "clamp", "mul", "add", "sub", "div", "log1p", "expm1",
}
# micrograd's example values for a, b, c (Karpathy's video, referenced by the essay); other names get N(0, 1).
DEFAULT_VALUES = {"a": 2.0, "b": -3.0, "c": 10.0, "d": -2.0}

_BINOPS = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__",
           ast.Pow: "__pow__", ast.MatMult: "__matmul__"}


class ExpressionError(ValueError):
    """The expression uses something outside the allowed subset."""


def _where(node):
    return f" (column {node.col_offset + 1})" if hasattr(node, "col_offset") else ""


def _number(node, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand, text)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_number(e, text) for e in node.elts]
    raise ExpressionError(f"only numbers are allowed here{_where(node)}: "
                          f"{ast.get_source_segment(text, node) or type(node).__name__}")


def parse_value(text):
    """A variable's value from ``NAME=VALUE`` text: a number or a nested list of numbers."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot read value {text!r}: {e.msg}") from None
    return _number(tree.body, text)


def evaluate(text, values=None, seed=0, dtype=None):
    """Evaluate ``text``; returns ``(result, variables)`` with ``variables`` = {name: leaf tensor}.

    values: ``{name: number or nested list}``; names not given get :data:`DEFAULT_VALUES` or a
    seeded N(0, 1) scalar. Every variable is a float64 leaf with ``requires_grad=True``.
    """
    import chainrule
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > 1000:
        raise ExpressionError("the expression is longer than 1000 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse {text!r}: {e.msg} (column {e.offset})") from None
    text = text.strip()
    values = dict(values or {})
    dtype = dtype or chainrule.float64
    variables = {}
    rng = np.random.default_rng(seed)

    def variable(name, node):
        if name.startswith("_"):
            raise ExpressionError(f"names starting with '_' are not allowed{_where(node)}: {name}")
        if name in ("chainrule", "torch"):
            raise ExpressionError(f"'{name}' can only be used to call a function, as in {name}.exp(a){_where(node)}")
        if name not in variables:
            if name in values:
                v = values.pop(name)
            elif name in DEFAULT_VALUES:
                v = DEFAULT_VALUES[name]
            else:
                v = round(float(rng.standard_normal()), 2)
            variables[name] = chainrule.tensor(v, dtype=dtype, requires_grad=True)
        return variables[name]

    def call_args(node):
        args = [walk(a) for a in node.args]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ExpressionError(f"**kwargs are not allowed{_where(node)}")
            kwargs[kw.arg] = _number(kw.value, text)
        return args, kwargs

    def walk(node):
        if isinstance(node, ast.Constant):
            return _number(node, text)
        if isinstance(node, ast.Name):
            return variable(node.id, node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = walk(node.left), walk(node.right)
            if not isinstance(left, chainrule.Tensor) and not isinstance(right, chainrule.Tensor):
                return _arith(type(node.op), left, right, node)
            if not isinstance(left, chainrule.Tensor):
                left = chainrule.tensor(left, dtype=dtype)
            return getattr(left, _BINOPS[type(node.op)])(right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = walk(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.List, ast.Tuple)):
            return _number(node, text)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):                       # tanh(a)
                name, target = func.id, None
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id in ("chainrule", "torch"):  # chainrule.tanh(a)
                name, target = func.attr, None
            elif isinstance(func, ast.Attribute):                  # (a*b).sigmoid()
                name, target = func.attr, walk(func.value)
            else:
                raise ExpressionError(f"only named functions and methods can be called{_where(node)}")
            if name not in FUNCTIONS:
                raise ExpressionError(f"'{name}' is not an allowed function{_where(node)}; allowed: "
                                      + ", ".join(sorted(FUNCTIONS)))
            args, kwargs = call_args(node)
            if target is not None:
                if not isinstance(target, chainrule.Tensor):
                    target = chainrule.tensor(target, dtype=dtype)
                return getattr(target, name)(*args, **kwargs)
            args = [chainrule.tensor(a, dtype=dtype) if i == 0 and not isinstance(a, chainrule.Tensor) else a
                    for i, a in enumerate(args)]
            return getattr(chainrule, name)(*args, **kwargs)
        segment = ast.get_source_segment(text, node) or ""
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression{_where(node)}: {segment}")

    try:
        result = walk(tree.body)
    except ExpressionError:
        raise
    except (TypeError, ValueError, RuntimeError, IndexError) as e:
        raise ExpressionError(f"evaluating {text!r} failed: {e}") from None
    if values:
        raise ExpressionError(f"values given for names not in the expression: {', '.join(sorted(values))}")
    if not isinstance(result, chainrule.Tensor) or not variables:
        raise ExpressionError(f"{text!r} uses no variables, so there is no graph to draw; use names like a, b, c")
    return result, variables


def _arith(op, left, right, node):
    """Arithmetic between two plain numbers (constant folding, e.g. the ``2*3`` in ``2*3*a``)."""
    if isinstance(left, list) or isinstance(right, list):
        raise ExpressionError(f"lists can only be function arguments{_where(node)}")
    if op is ast.MatMult:
        raise ExpressionError(f"@ needs tensors, not numbers{_where(node)}")
    if op is ast.Pow:
        if abs(right) > 100 or abs(left) > 1e6:
            raise ExpressionError(f"number too large in **{_where(node)}")
        return left ** right
    if op is ast.Div:
        if right == 0:
            raise ExpressionError(f"division by zero{_where(node)}")
        return left / right
    return {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right}[op]()

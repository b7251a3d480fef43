"""What an op box says: a symbol a learner reads (``@``, ``+``, ``σ``, ``(·)²``), or PyTorch's node name.

PyTorch names each recorded op after its backward function (``MmBackward0``, ``SigmoidBackward0``);
chainrule records the same names, so a graph drawn with ``op_labels="pytorch"`` matches what
``torchviz`` would show. A learner reading the essay thinks in its notation instead, so the default
labels are the symbols of the formulas: ``z = W·a + b`` is ``x·Wᵀ + b``, ``σ(z)`` is ``σ``.
"""
import re

__all__ = ["op_label", "LEARNER_LABELS", "OP_LABEL_STYLES"]

OP_LABEL_STYLES = ("learner", "pytorch")

# PyTorch's node name without its "Backward<n>" suffix -> the symbol a learner reads.
LEARNER_LABELS = {
    "Add": "+", "Sub": "−", "Mul": "×", "Div": "÷", "Neg": "−(·)", "Remainder": "mod",
    "Mm": "@", "Bmm": "@", "Dot": "·", "Addmm": "x·Wᵀ + b",
    "Sigmoid": "σ", "Tanh": "tanh", "Relu": "ReLU", "Exp": "exp", "Exp2": "2^(·)", "Expm1": "exp(·) − 1",
    "Log": "log", "Log2": "log₂", "Log10": "log₁₀", "Log1P": "log(1 + ·)", "Sqrt": "√", "Rsqrt": "1/√",
    "Reciprocal": "1/(·)", "Abs": "|·|", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Erf": "erf",
    "Sum": "Σ", "Mean": "mean", "Prod": "Π", "Max": "max", "Min": "min", "Amax": "max", "Amin": "min",
    "Maximum": "max", "Minimum": "min", "Clamp": "clamp", "Where": "where",
    "Transpose": "(·)ᵀ", "Permute": "(·)ᵀ", "View": "reshape", "Expand": "broadcast", "SumTo": "Σ to shape",
    "Unsqueeze": "unsqueeze", "Squeeze": "squeeze", "Index": "[·]", "Select": "[i]", "Slice": "[a:b]",
    "Cat": "cat", "Clone": "copy", "ToCopy": "to dtype", "Alias": "=",
    "Softmax": "softmax", "LogSoftmax": "log softmax", "Softplus": "softplus", "Logsumexp": "logsumexp",
    "MseLoss": "MSE", "BinaryCrossEntropy": "BCE", "NllLoss": "NLL", "Norm": "‖·‖",
}

_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
_SUFFIX = re.compile(r"Backward\d*$")


def _power(exponent):
    """``(·)²`` for ``x ** 2``; a long or fractional exponent is written out: ``(·)^0.5``."""
    if isinstance(exponent, float) and exponent.is_integer():
        exponent = int(exponent)
    text = str(exponent)
    if isinstance(exponent, int) and len(text) <= 3:
        return "(·)" + text.translate(_SUPERSCRIPT)
    return f"(·)^{text}"


def op_label(node, style="learner"):
    """The text of ``node``'s box: PyTorch's name (``style="pytorch"``) or the learner's symbol."""
    name = node.name()
    if style == "pytorch":
        return name
    if name == "PowBackward1":                           # a tensor exponent
        return "xʸ"
    base = _SUFFIX.sub("", name)
    if base == "Pow":
        exponent = getattr(node, "exponent", None)       # set by chainrule.ops.elementwise.pow
        return _power(exponent) if exponent is not None else "(·)ⁿ"
    return LEARNER_LABELS.get(base, base.lower() if base else name)

"""The errors ``chainrule.load`` raises for a file it will not (or cannot) read."""
import pickle


class CheckpointError(RuntimeError):
    """A file is not a readable checkpoint: wrong format, truncated, corrupted, oversized or hostile.

    The message names the path the user gave and, where there is one, the entry inside the file.
    """


class WeightsOnlyError(CheckpointError, pickle.UnpicklingError):
    """A ``weights_only`` load met something outside the allow-list (a global, a call, an opcode).

    It is PyTorch's ``pickle.UnpicklingError`` (what a PyTorch program catches) and a CheckpointError.
    """


UNSAFE_MESSAGE = (
    "Re-running `load` with `weights_only=False` will likely succeed, but it can result in arbitrary code "
    "execution. Do it only if you got the file from a trusted source.")


def weights_only_message(name, reason):
    """PyTorch's "Weights only load failed" text around ``reason``, naming the file."""
    if "was not an allowed global by default" in reason:
        return (f"Weights only load failed for {name}. This file can still be loaded, to do so you have two "
                "options, do those steps only if you trust the source of the checkpoint.\n"
                f"\t(1) {UNSAFE_MESSAGE}\n"
                "\t(2) Alternatively, to load with `weights_only=True` please check the recommended steps in the "
                f"following error message.\n\tWeightsUnpickler error: {reason}")
    return f"Weights only load failed for {name}. {UNSAFE_MESSAGE}\n\nWeightsUnpickler error: {reason}"

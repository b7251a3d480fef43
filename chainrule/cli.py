"""The ``chainrule`` command (also ``python -m chainrule``): watch backpropagation happen.

    chainrule train xor                 the essay's 2-2-1 sigmoid network learns XOR
    chainrule explain xor               one backward pass, every number checked three ways
    chainrule graph                     the computation graph of the essay's loss (Graphviz DOT)
    chainrule gradflow --compare        vanishing gradients: sigmoid against ReLU, layer by layer
    chainrule run prog.py [args...]     run an unmodified PyTorch program with `torch` bound to chainrule
    chainrule run -n 4 prog.py [args]   ... as 4 ranks (torch.distributed over MPI), as torchrun would

This module only parses arguments and prints; the work is done in ``chainrule.tools``,
``chainrule.explain`` and ``chainrule.viz``, which are usable from Python.
"""
import argparse
import sys

import numpy as np

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A problem the user can fix (bad option, missing optional package): printed without a traceback."""


# ----- argument types ------------------------------------------------------------------------------------
def _hidden(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 2 or 16,16; got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers; got {text!r}")
    return sizes


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _int_at_least(minimum, wording):
    """An argparse type: an integer no smaller than ``minimum`` (``wording`` says the bound)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {wording}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "at least 1")
_non_negative_int = _int_at_least(0, "0 or more")


def _sample(text):
    if text == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a sample index 0-3 or 'all', got {text!r}") from None
    if not 0 <= value <= 3:
        raise argparse.ArgumentTypeError(f"XOR has samples 0-3, got {value}")
    return value


def _assignment(text):
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as a=2.0 or w=[[1,2]], got {text!r}")
    from .tools.expr import ExpressionError, parse_value
    try:
        return name.strip(), parse_value(value)
    except ExpressionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# ----- the parser ------------------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(
        prog="chainrule", description="Watch backpropagation happen: train, explain, draw the graph, "
                                      "measure gradient flow.",
        epilog="Run `chainrule COMMAND --help` for each command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train a small MLP on xor, moons, spirals or digits",
                       description="Train a small MLP. Defaults for xor are the essay's: a 2-2-1 sigmoid "
                                   "network, MSE loss, plain full-batch gradient descent (lr 2.0, 5000 epochs), "
                                   "nn.Linear's default init; --init normal draws W ~ N(0, 1) like the "
                                   "essay's np.random.randn. XOR has local minima: about 1 seed in 10 gets stuck.")
    p.add_argument("dataset", choices=["xor", "moons", "spirals", "digits"])
    p.add_argument("--hidden", type=_hidden, help="hidden layer sizes, e.g. 2 or 16,16")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"])
    p.add_argument("--loss", choices=["mse", "bce", "ce"], help="mean squared error, binary or categorical "
                                                                "cross-entropy")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"])
    p.add_argument("--lr", type=_positive_float, help="learning rate η")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_non_negative_int, help="mini-batch size (0: the full batch)")
    p.add_argument("--seed", type=int)
    p.add_argument("--init", choices=["default", "normal", "kaiming", "xavier"],
                   help="weight init: nn.Linear's default, N(0,1) (the essay's), Kaiming or Xavier")
    p.add_argument("--log-every", type=_positive_int, help="print the loss every N epochs (default: 5 times)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="FILE.png", help="write the loss curve (and the decision boundary for 2-D "
                                                     "data) to a PNG; needs matplotlib")
    p.add_argument("--save", metavar="FILE", help="write a checkpoint (state_dict + config) with chainrule.save")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("explain", help="one forward and backward pass, each number checked three ways",
                       description="One forward and one backward pass of the essay's 2-2-1 network, printed "
                                   "as the essay's steps from the output back to the input. Every gradient is "
                                   "computed by the chain-rule formula (NumPy), read from autograd (.grad and "
                                   "register_hook) and estimated by finite differences; ✓ when they agree. "
                                   "Ends with the update w ← w − η·∂L/∂w. Exit status 1 if anything disagrees.")
    p.add_argument("dataset", choices=["xor"])
    p.add_argument("--sample", type=_sample, default=1, help="which XOR sample (0-3), or 'all' for the batch "
                                                              "of four (default 1: input [0 1], target 1)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random initial weights")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], default="sigmoid")
    p.add_argument("--loss", choices=["mse", "bce"], default="mse")
    p.add_argument("--lr", type=_positive_float, default=0.5, help="learning rate η for the update (default 0.5)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("graph", help="draw a computation graph (Graphviz DOT, SVG, PNG)",
                       description="Draw the computation graph of the essay's network's MSE loss on XOR, or of "
                                   "--expr. Variables in --expr are leaf tensors: a=2, b=-3, c=10, d=-2 (micrograd's "
                                   "example) unless --set, others N(0,1). Only arithmetic and whitelisted chainrule "
                                   "functions/methods are accepted; the text is parsed, never eval'ed.")
    p.add_argument("--expr", help='an expression such as "(a*b + c).sigmoid()" or "tanh(x @ w).sum()"')
    p.add_argument("--set", dest="values", type=_assignment, action="append", default=[], metavar="NAME=VALUE",
                   help="a variable's value: a number or nested list (repeatable), e.g. --set w=[[1,2],[3,4]]")
    p.add_argument("--format", choices=["dot", "svg", "png"], default=None,
                   help="dot (text, default) or svg/png (needs Graphviz's dot program)")
    p.add_argument("--output", "-o", metavar="FILE", help="where to write (default: DOT to stdout)")
    p.add_argument("--no-grad-values", action="store_true", help="do not run backward or show .grad values")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("gradflow", help="‖∂L/∂W‖ layer by layer in a deep MLP: vanishing gradients",
                       description="The norm of ∂L/∂W in each layer of a deep MLP at initialisation, on one "
                                   "batch of random data (MSE loss). Sigmoid's slope is at most 1/4, so its "
                                   "gradient shrinks on the way back to the input; ReLU's does not.")
    p.add_argument("--depth", type=_positive_int, default=20, help="number of Linear layers (default 20)")
    p.add_argument("--width", type=_positive_int, default=32, help="width of every layer (default 32)")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], default="sigmoid")
    p.add_argument("--compare", action="store_true", help="also measure ReLU (or sigmoid, if --activation relu)")
    p.add_argument("--init", choices=["default", "normal", "kaiming", "xavier"], default="kaiming",
                   help="weight init (default kaiming: Var(W) = 2/fan_in)")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="plot the norms on a log scale; needs matplotlib")
    p.set_defaults(func=cmd_gradflow)

    p = sub.add_parser("run", help="run an unmodified PyTorch program on chainrule (`import torch` gives chainrule)",
                       description="Run PROGRAM as `python PROGRAM ARGS...` would, with `import torch` and every "
                                   "torch.* module path served by chainrule. The program's folder comes first on "
                                   "sys.path, __name__ is '__main__', and its exit status is this command's. "
                                   "With -n N, N ranks run it (torch.distributed over MPI), as under torchrun.")
    p.add_argument("-n", "--nproc-per-node", "--nproc_per_node", dest="nprocs", type=_positive_int, default=None,
                   metavar="N", help="start N ranks through mpiexec, as `torchrun --nproc_per_node N` does "
                                     "(needs pip install 'chainrule[distributed]')")
    p.add_argument("--hostfile", metavar="FILE", help="with -n: spread the ranks over the machines in FILE "
                                                      "(mpiexec's host file)")
    p.add_argument("program", help="the Python file to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the program as sys.argv[1:]")
    p.set_defaults(func=cmd_run)
    return parser


# ----- train -------------------------------------------------------------------------------------------------
def _param_label(name, index_of_linear):
    """'0.weight' -> 'W1', '2.bias' -> 'b2' (layers numbered as in the essay)."""
    module, _, kind = name.rpartition(".")
    k = index_of_linear.get(module, module)
    return f"{'W' if kind == 'weight' else 'b'}{k}"


def _format_array(label, array):
    a = np.asarray(array)
    shape = "x".join(str(s) for s in a.shape)
    if a.size <= 32:
        return f"{label} ({shape}):\n{np.array2string(a, precision=4, suppress_small=True)}"
    return (f"{label} ({shape}): mean {a.mean():+.4f}, std {a.std():.4f}, min {a.min():+.4f}, max {a.max():+.4f}")


class _Progress:
    """A tqdm bar with the running loss, or plain prints without tqdm; log lines go to stdout either way."""

    def __init__(self, total, enabled):
        self.bar = None
        self.note = None
        if enabled:
            from .tools.optional import available
            if available("tqdm"):
                from tqdm import tqdm
                self.bar = tqdm(total=total, desc="training", unit="epoch", file=sys.stderr,
                                mininterval=0.25, dynamic_ncols=True)
            else:
                self.note = "(no progress bar: pip install 'chainrule[progress]' for one)"

    def update(self, loss):
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % max(1, self.bar.total // 100) == 0:
                self.bar.set_postfix(loss=f"{loss:.6f}", refresh=False)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cmd_train(args):
    from .tools import train as tr
    from .tools.optional import require
    if args.plot:
        require("matplotlib", "--plot")                   # say so now, not after training
    config = tr.default_config(args.dataset, hidden=args.hidden, activation=args.activation, loss=args.loss,
                               optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
                               batch_size=args.batch_size, seed=args.seed, init=args.init)
    if args.dataset == "xor" and config.hidden == (2,) and config.activation == "sigmoid":
        print("The essay's 2-2-1 sigmoid network learns XOR")
    print(f"Training on {config.describe()}")
    log_every = args.log_every or max(1, config.epochs // 5)

    def on_epoch(epoch, loss):
        progress.update(loss)
        if epoch % log_every == 0 or epoch == config.epochs - 1:
            progress.write(f"Epoch {epoch}: Loss = {loss:.6f}")

    progress = _Progress(config.epochs, not args.no_progress)

    def on_start(model):
        """Print the initial parameters before the first step, as the essay's solution does."""
        linear_index = {name: i for i, name in enumerate(
            (n for n, m in model.named_modules() if type(m).__name__ == "Linear"), start=1)}
        progress.write("Initial weights and biases:")
        for name, p in model.named_parameters():
            progress.write(_format_array(_param_label(name, linear_index), p.detach().numpy()))
        progress.write("*" * 60)
        if progress.note:
            progress.write(progress.note)

    try:
        result = tr.train(config, on_epoch=on_epoch, on_start=on_start)
    finally:
        progress.close()

    print("\n" + "=" * 60)
    print("Final predictions:" if config.dataset == "xor" else "Results:")
    if config.dataset == "xor":
        X = result.X.numpy().astype(int)
        p1 = _probability_of_one(result.scores)
        for i in range(len(X)):
            print(f"Input: {X[i]} -> Predicted: {p1[i]:.2f}, Actual: {result.labels[i]}")
    n = len(result.labels)
    print(f"Training accuracy: {result.accuracy:.1%} ({int(round(result.accuracy * n))}/{n})")
    print(f"Final loss: {result.final_loss:.6f}")
    if result.test_accuracy is not None:
        print(f"Test accuracy: {result.test_accuracy:.1%} ({int(result.confusion.trace())}/{int(result.confusion.sum())})")
        print("Confusion matrix (rows: true digit, columns: predicted):")
        k = result.confusion.shape[0]
        print("      " + "".join(f"{j:>5}" for j in range(k)))
        for i in range(k):
            print(f"{i:>5} " + "".join(f"{v:>5}" for v in result.confusion[i]))
    if args.plot:
        tr.plot(result, args.plot)
        print(f"Wrote {args.plot}")
    if args.save:
        tr.save_checkpoint(result, args.save)
        print(f"Wrote {args.save} (chainrule.load it: keys format, config, state_dict, losses)")
    return 0


def _probability_of_one(scores):
    if scores.shape[1] == 1:
        return scores[:, 0]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, 1]


# ----- explain -----------------------------------------------------------------------------------------------
def cmd_explain(args):
    from . import datasets, float64
    from .explain import essay_network, format_trace, trace
    X, y = datasets.xor()
    X, y = X.to(float64), y.to(float64)
    if args.sample == "all":
        x, t, which = X, y, "all four XOR samples (one batch)"
    else:
        i = args.sample
        x, t = X[i:i + 1], y[i:i + 1]
        which = f"XOR sample {i}: input {X[i].long().tolist()}, target {int(y[i, 0].item())}"
    model = essay_network(seed=args.seed, activation=args.activation)
    record = trace(model, x, t, args.loss, lr=args.lr)
    title = (f"One step of backpropagation: the essay's 2-2-1 network ({args.activation}, {args.loss.upper()} "
             f"loss, seed {args.seed}) on {which}")
    print(format_trace(record, title=title))
    return 0 if record.ok else 1


# ----- graph ------------------------------------------------------------------------------------------------
def cmd_graph(args):
    from .viz import Graph, INSTALL_HINT, draw_graph
    fmt = args.format
    if fmt is None:
        suffix = args.output.rsplit(".", 1)[-1].lower() if args.output and "." in args.output else "dot"
        fmt = suffix if suffix in ("svg", "png") else "dot"
    if fmt != "dot" and not Graph.dot_available():
        raise CommandError(f"--format {fmt}: {INSTALL_HINT}. Or use --format dot.")
    if args.expr:
        from .tools.expr import ExpressionError, evaluate
        try:
            out, params = evaluate(args.expr, dict(args.values), seed=args.seed)
        except ExpressionError as e:
            raise CommandError(f"--expr: {e}") from None
        what = f"{args.expr}"
    else:
        if args.values:
            raise CommandError("--set only applies to --expr")
        from . import datasets, float64
        from .explain import essay_network
        layers = essay_network(seed=args.seed)
        X, y = datasets.xor()
        X, y = X.to(float64), y.to(float64)
        a1 = (X @ layers[0].weight.T + layers[0].bias).sigmoid()
        y_hat = (a1 @ layers[1].weight.T + layers[1].bias).sigmoid()
        out = ((y_hat - y) ** 2).mean()
        params = {"W1": layers[0].weight, "b1": layers[0].bias, "W2": layers[1].weight, "b2": layers[1].bias,
                  "loss": out}
        what = "the essay's 2-2-1 sigmoid network, MSE loss on XOR"
    if not args.no_grad_values:
        out.backward(np.ones(out.shape) if out.ndim else None)
    graph = draw_graph(out, params=params, show_grad=not args.no_grad_values)
    summary = f"{graph.op_nodes} ops, {graph.leaf_nodes} leaf tensors: {what}"
    if fmt == "dot" and not args.output:
        print(f"// {summary}")
        sys.stdout.write(graph.source)
        return 0
    path = args.output or f"graph.{fmt}"
    graph.save(path, format=fmt)
    print(f"Wrote {path} ({summary})")
    return 0


# ----- gradflow -----------------------------------------------------------------------------------------------
def cmd_gradflow(args):
    from .tools import gradflow
    from .tools.optional import require
    if args.plot:
        require("matplotlib", "--plot")
    if args.depth < 2:
        raise CommandError(f"--depth must be at least 2, got {args.depth}")
    activations = [args.activation]
    if args.compare:
        activations.append("relu" if args.activation != "relu" else "sigmoid")
    results = [gradflow.measure(depth=args.depth, width=args.width, activation=a, seed=args.seed,
                                batch_size=args.batch_size, init=args.init) for a in activations]
    print(f"‖∂L/∂W‖ per layer at initialisation: {args.depth} Linear layers of width {args.width}, "
          f"{args.init} init, one batch of {args.batch_size} N(0,1) samples, MSE loss, seed {args.seed}")
    print(gradflow.format_table(results))
    for r in results:
        print(f"{r.activation}: the first layer's gradient is {r.first_to_last:.2e} times the last layer's")
    if args.plot:
        gradflow.plot(results, args.plot)
        print(f"Wrote {args.plot}")
    return 0


# ----- run --------------------------------------------------------------------------------------------------
def cmd_run(args):
    if args.nprocs is not None:
        from .tools.launch import launch
        return launch(args.nprocs, args.program, args.args, args.hostfile)
    if args.hostfile is not None:
        raise CommandError("--hostfile needs -n N (the number of ranks to start)")
    from .tools.run import run_program
    return run_program(args.program, args.args)


# ----- entry point ------------------------------------------------------------------------------------------
def _tolerate_plain_terminals():
    """A terminal whose encoding lacks ∂ or ✓ gets '?' for them instead of a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            "∂✓✗σ‖".encode(stream.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="replace")


def main(argv=None):
    _tolerate_plain_terminals()
    parser = build_parser()
    args = parser.parse_args(argv)
    from .tools.optional import MissingDependency
    try:
        return args.func(args)
    except (CommandError, MissingDependency, ValueError) as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``chainrule`` command (also ``python -m chainrule``): watch backpropagation happen.

    chainrule train xor                 the essay's 2-2-1 sigmoid network learns XOR
    chainrule explain xor               one backward pass, every number checked three ways
    chainrule graph                     the essay's loss as a graph, every intermediate with its gradient
    chainrule gradflow --compare        vanishing gradients: sigmoid against ReLU, layer by layer
    chainrule playground                a page in the browser where a network learns while you watch
    chainrule run prog.py [args...]     run an unmodified PyTorch program with `torch` bound to chainrule
    chainrule run -n 4 prog.py [args]   ... as 4 ranks (torch.distributed over MPI), as torchrun would

This module only parses arguments and prints; the work is done in ``chainrule.tools``,
``chainrule.explain`` and ``chainrule.viz``, which are usable from Python.
"""
import argparse
import difflib
import os
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
                                      "measure gradient flow, or watch a network learn in the browser.",
        epilog="Run `chainrule COMMAND --help` for each command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices                 # name -> the command's parser (for its own error messages)

    p = sub.add_parser("train", help="train a small MLP on xor, moons, spirals or digits",
                       description="Train a small MLP. Defaults for xor follow the essay: a 2-2-1 sigmoid "
                                   "network, MSE loss, plain full-batch gradient descent for 5000 epochs, "
                                   "nn.Linear's default init (--init normal draws W ~ N(0, 1) like the essay's "
                                   "np.random.randn), but lr 2.0 where the essay's code uses 0.1: with 0.1 the "
                                   "sigmoids' small slopes (at most 1/4 each) make the steps so short that after "
                                   "5000 epochs the network is still at 50% or 75% accuracy (seeds 0-9: none "
                                   "reach 100%; with --init normal, 1). XOR also has local minima: with lr 2.0 "
                                   "about 1 seed in 10 gets stuck.")
    p.add_argument("dataset", choices=["xor", "moons", "spirals", "digits"])
    p.add_argument("--hidden", type=_hidden, help="hidden layer sizes, e.g. 2 or 16,16")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"])
    p.add_argument("--loss", choices=["mse", "bce", "ce"], help="mean squared error, binary or categorical "
                                                                "cross-entropy")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"])
    p.add_argument("--lr", type=_positive_float, help="learning rate η (xor: 2.0; the essay's code uses 0.1, "
                                                       "too small to learn XOR in 5000 epochs)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_non_negative_int, help="mini-batch size (0: the full batch)")
    p.add_argument("--seed", type=int)
    p.add_argument("--init", choices=["default", "normal", "kaiming", "xavier"],
                   help="weight init: nn.Linear's default, N(0,1) (the essay's), Kaiming or Xavier")
    p.add_argument("--log-every", type=_positive_int, help="print the loss every N epochs (default: 5 times)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="FILE.png", help="write the loss curve and the decision boundary (2-D data) "
                                                     "or example digits and the confusion matrix (digits) to a "
                                                     "PNG (a folder gets DATASET.png inside); needs matplotlib")
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
    p.add_argument("--init", choices=["normal", "default"], default="normal",
                   help="initial weights: normal, W ~ N(0, 1) and b = 0 like the essay (default), or default, "
                        "nn.Linear's; either way the weights `chainrule train xor --init INIT --seed SEED` starts from")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], default="sigmoid")
    p.add_argument("--loss", choices=["mse", "bce"], default="mse")
    p.add_argument("--lr", type=_positive_float, default=0.5, help="learning rate η for the update (default 0.5)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("graph", help="draw a computation graph or the essay's network (SVG, DOT, PNG)",
                       description="Draw the computation graph of the essay's network's MSE loss on XOR, with "
                                   "every intermediate (x, z₁, a₁, z₂, ŷ) and its value and gradient, or of "
                                   "--expr; or, with --network, the network itself as neurons and weighted edges. "
                                   "Variables in --expr are leaf tensors: a=2, b=-3, c=10, d=-2 (micrograd's "
                                   "example) unless --set, others N(0,1). Only arithmetic and whitelisted chainrule "
                                   "functions/methods are accepted; the text is parsed, never eval'ed. SVG needs "
                                   "nothing (Graphviz draws it when installed); PNG needs Graphviz.")
    p.add_argument("--expr", help='an expression such as "(a*b + c).sigmoid()" or "tanh(x @ w).sum()"')
    p.add_argument("--set", dest="values", type=_assignment, action="append", default=[], metavar="NAME=VALUE",
                   help="a variable's value: a number or nested list (repeatable), e.g. --set w=[[1,2],[3,4]]")
    p.add_argument("--network", action="store_true",
                   help="draw the essay's 2-2-1 network as neurons and weighted edges (SVG), with each neuron's "
                        "output for --sample")
    p.add_argument("--sample", type=_sample, default=1, help="with --network: the XOR input whose forward pass "
                                                              "the neurons show (0-3, default 1: [0 1])")
    p.add_argument("--format", choices=["dot", "svg", "png"], default=None,
                   help="dot (text), svg (needs nothing) or png (needs Graphviz); default: from -o's suffix, "
                        "else dot (svg for --network)")
    p.add_argument("--output", "-o", metavar="FILE", help="where to write (default: DOT to stdout; "
                                                          "network.svg for --network)")
    p.add_argument("--op-labels", choices=["learner", "pytorch"], default="learner",
                   help="op boxes as @, +, σ, (·)², mean (default) or as PyTorch's node names (MmBackward0, ...)")
    p.add_argument("--no-grad-values", action="store_true", help="do not compute or show gradients")
    p.add_argument("--seed", type=int, default=0, help="seed of the essay network's N(0, 1) weights")
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

    p = sub.add_parser("playground", help="a page in your browser where a network learns while you watch",
                       description="Serve the playground on this machine: pick data, edit the network, set the "
                                   "hyper-parameters and watch chainrule train it: each neuron's output over the "
                                   "input plane, the weights, the decision boundary, the losses, ‖∂L/∂W‖ per "
                                   "layer; step through one backward pass with every number checked three ways. "
                                   "Everything it loads ships with chainrule; nothing is fetched from the internet.")
    p.add_argument("--port", type=_int_at_least(0, "0 (any free port) to 65535"), default=8765,
                   help="port to listen on (default 8765; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: only this machine can connect)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=cmd_playground)

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
    from .tools.outputs import check_output, plot_path
    # Everything that can fail is checked now, not after minutes of training.
    if args.plot:
        require("matplotlib", "--plot")
        args.plot = plot_path(args.plot, f"{args.dataset}.png")
    if args.save:
        args.save = check_output(args.save, "--save")
    config = tr.default_config(args.dataset, hidden=args.hidden, activation=args.activation, loss=args.loss,
                               optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
                               batch_size=args.batch_size, seed=args.seed, init=args.init)
    tr.check_size(config, what=f"--hidden {','.join(map(str, config.hidden))}")
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
    if config.dataset == "xor" and result.accuracy < 1:
        print(f"Hint: stuck at {result.accuracy:.0%}. Gradient descent has settled in a local minimum (or is "
              f"crawling across a flat stretch) of XOR's loss. Try another --seed, more hidden units "
              f"(--hidden 4) or a larger --lr (this run: {config.lr:g}).")
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
    from .explain import ESSAY_INITS, essay_network, format_trace, trace
    X, y = datasets.xor()
    X, y = X.to(float64), y.to(float64)
    if args.sample == "all":
        x, t, which = X, y, "all four XOR samples (one batch)"
    else:
        i = args.sample
        x, t = X[i:i + 1], y[i:i + 1]
        which = f"XOR sample {i}: input {X[i].long().tolist()}, target {int(y[i, 0].item())}"
    model = essay_network(seed=args.seed, activation=args.activation, init=args.init)
    record = trace(model, x, t, args.loss, lr=args.lr)
    title = (f"One step of backpropagation: the essay's 2-2-1 network ({args.activation}, {args.loss.upper()} "
             f"loss, seed {args.seed}) on {which}")
    other = "default" if args.init == "normal" else "normal"
    title += (f"\nInitial weights: {ESSAY_INITS[args.init]}, drawn with seed {args.seed}: the weights "
              f"`chainrule train xor --init {args.init} --seed {args.seed}` starts from (train's own default is "
              f"--init default; --init {other} here matches that instead). They are printed with the forward pass.")
    print(format_trace(record, title=title))
    return 0 if record.ok else 1


# ----- graph ------------------------------------------------------------------------------------------------
def _graph_format(args):
    if args.format is not None:
        return args.format
    suffix = args.output.rsplit(".", 1)[-1].lower() if args.output and "." in os.path.basename(args.output) else None
    if suffix in ("dot", "gv", "svg", "png"):
        return "dot" if suffix == "gv" else suffix
    return "svg" if args.network else "dot"


def _essay_graph(seed):
    """The essay's forward pass on XOR, every step a named tensor; x requires grad so ∂L/∂x shows too."""
    from . import datasets, float64
    from .explain import essay_network
    layers = essay_network(seed=seed)
    X, y = datasets.xor()
    x, y = X.to(float64).requires_grad_(True), y.to(float64)
    z1 = x @ layers[0].weight.T + layers[0].bias
    a1 = z1.sigmoid()
    z2 = a1 @ layers[1].weight.T + layers[1].bias
    y_hat = z2.sigmoid()
    loss = ((y_hat - y) ** 2).mean()
    names = {"x": x, "W₁": layers[0].weight, "b₁": layers[0].bias, "z₁": z1, "a₁": a1,
             "W₂": layers[1].weight, "b₂": layers[1].bias, "z₂": z2, "ŷ": y_hat, "L": loss}
    return loss, names


def cmd_graph(args):
    from .tools.outputs import check_output
    from .viz import INSTALL_HINT, Graph, draw_graph
    fmt = _graph_format(args)
    if fmt == "png" and not Graph.dot_available():
        raise CommandError(f"--format png: {INSTALL_HINT}. Or use --format svg.")
    if args.output:
        check_output(args.output, "--output")
    if args.network:
        return _draw_network(args, fmt)
    if args.expr is not None:
        from .tools.expr import ExpressionError, evaluate
        try:
            out, names = evaluate(args.expr, dict(args.values), seed=args.seed)
        except ExpressionError as e:
            raise CommandError(f"--expr: {e}") from None
        what = args.expr
    else:
        if args.values:
            raise CommandError("--set only applies to --expr")
        out, names = _essay_graph(args.seed)
        what = "the essay's 2-2-1 sigmoid network, MSE loss on XOR"
    if not args.no_grad_values and out.numel() != 1:
        out.backward(np.ones(out.shape))     # not a scalar: show the gradient of its sum in .grad
    graph = draw_graph(out, names=names, show_grad=not args.no_grad_values, op_labels=args.op_labels)
    summary = f"{graph.op_nodes} ops, {graph.leaf_nodes} leaf tensors"
    if graph.tensor_nodes:
        summary += f", {graph.tensor_nodes} intermediates"
    summary += f": {what}"
    if fmt == "dot" and not args.output:
        print(f"// {summary}")
        sys.stdout.write(graph.source)
        return 0
    path = args.output or f"graph.{fmt}"
    graph.save(path, format=fmt)
    print(f"Wrote {path} ({summary})")
    return 0


def _draw_network(args, fmt):
    from . import datasets, float64
    from .explain import essay_network
    from .viz import draw_network
    if args.expr is not None or args.values:
        raise CommandError("--network draws the essay's network; --expr and --set draw an expression's graph")
    if fmt != "svg":
        raise CommandError(f"--network draws SVG only, not {fmt}")
    if args.sample == "all":
        raise CommandError("--network shows one sample's forward pass: --sample 0-3")
    X, _ = datasets.xor()
    x = X[args.sample].to(float64)
    drawing = draw_network(essay_network(seed=args.seed), x=x,
                           title=f"The essay's 2-2-1 network (seed {args.seed}) on input {X[args.sample].long().tolist()}")
    path = args.output or "network.svg"
    drawing.save(path)
    print(f"Wrote {path} (the essay's 2-2-1 network, seed {args.seed}: neurons show their output for input "
          f"{X[args.sample].long().tolist()})")
    return 0


# ----- gradflow -----------------------------------------------------------------------------------------------
def cmd_gradflow(args):
    from .tools import gradflow
    from .tools.optional import require
    from .tools.outputs import check_memory, plot_path
    if args.plot:
        require("matplotlib", "--plot")
        args.plot = plot_path(args.plot, "gradflow.png")
    if args.depth < 2:
        raise CommandError(f"--depth must be at least 2, got {args.depth}")
    params = args.depth * (args.width + 1) * args.width
    check_memory(2 * params + 3 * args.batch_size * args.width * args.depth, 4,
                 f"--depth {args.depth} --width {args.width} ({params:.3g} parameters)")
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


# ----- playground -------------------------------------------------------------------------------------------
def cmd_playground(args):
    from .playground import serve
    if args.port > 65535:
        raise CommandError(f"--port must be 0 to 65535, got {args.port}")

    def ready(url):
        print(f"chainrule playground: open {url} in your browser (Ctrl-C stops the server)", flush=True)
    try:
        serve(args.host, args.port, open_browser=args.open, quiet=not args.verbose, ready=ready)
    except OSError as e:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}; "
                           f"another --port (0: any free one)?") from None
    except KeyboardInterrupt:
        print("stopped")
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


def _unknown_options(parser, command, unknown):
    """Unknown options are reported by the command's own parser (its usage, not the top level's),
    with the closest option it has: ``train --hiden 4`` suggests ``--hidden``."""
    sub = parser.commands[command]
    known = [o for action in sub._actions for o in action.option_strings if o.startswith("--")]
    hints = []
    for word in unknown:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.6)
            if close:
                hints.append(f"{word.split('=', 1)[0]}: did you mean {close[0]}?")
    message = "unrecognized arguments: " + " ".join(unknown)
    sub.error(message + ("" if not hints else " (" + "; ".join(hints) + ")"))


def main(argv=None):
    _tolerate_plain_terminals()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unknown_options(parser, args.command, unknown)
    from .tools.optional import MissingDependency
    try:
        return args.func(args)
    except BrokenPipeError:                       # output piped into `head`: not an error
        return 0
    except (CommandError, MissingDependency, ValueError, OSError) as e:
        print(f"chainrule {args.command}: error: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"chainrule {args.command}: error: ran out of memory; ask for smaller sizes (--hidden, --width, "
              f"--batch-size)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""L-BFGS (``torch.optim.LBFGS``): a quasi-Newton method that needs a closure re-evaluating the loss.

Each iteration turns the gradient into a search direction with the two-loop recursion over the last
``history_size`` pairs (s = step taken, y = change of gradient), which approximates the inverse Hessian;
then it steps along that direction, by ``lr`` (the first step scaled down by the gradient's size) or by a
strong-Wolfe line search (``line_search_fn="strong_wolfe"``). One ``step(closure)`` runs up to ``max_iter``
iterations and stops early when the gradient, the step or the change of loss is below its tolerance. All
parameters are handled as one flat vector, so there is a single parameter group.
"""
import chainrule

from .line_search import strong_wolfe
from .optimizer import Optimizer


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if isinstance(lr, chainrule.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # -- the parameters as one flat vector ------------------------------------------------------------
    def _flat_grad(self):
        return chainrule.cat([p.grad.reshape(-1) if p.grad is not None else chainrule.zeros(p.numel(), dtype=p.dtype)
                              for p in self._params])

    def _add_to_params(self, step, direction):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(direction[offset:offset + n].view_as(p), alpha=step)
            offset += n

    def _evaluate_at(self, closure, start, t, d):
        """Loss and flat gradient at start + t d; the parameters are put back at ``start`` afterwards."""
        self._add_to_params(t, d)
        with chainrule.enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for p, value in zip(self._params, start):
            p.copy_(value)
        return loss, flat_grad

    def step(self, closure):
        """Run up to ``max_iter`` iterations; ``closure`` clears the gradients, computes the loss, calls
        backward and returns the loss. Returns the loss of the first evaluation."""
        if closure is None:
            raise RuntimeError("LBFGS requires a closure")
        with chainrule.no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with chainrule.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evaluations = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if float(flat_grad.abs().max()) <= tolerance_grad:   # already at a stationary point
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                d, H_diag = self._direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, H_diag,
                                            history_size)
            prev_flat_grad = flat_grad.clone()
            prev_loss = loss
            # The first step ever is scaled down by the gradient's size; later steps are lr.
            t = min(1.0, 1.0 / float(flat_grad.abs().sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tolerance_change:   # not a descent direction any more
                break

            if line_search_fn == "strong_wolfe":
                start = [p.clone() for p in self._params]
                loss, flat_grad, t, ls_evals = strong_wolfe(
                    lambda step: self._evaluate_at(closure, start, step, d), t, d, loss, flat_grad, gtd)
                self._add_to_params(t, d)
            else:
                self._add_to_params(t, d)
                ls_evals = 0
                if n_iter != max_iter:   # the last iteration's loss is the next step()'s first evaluation
                    with chainrule.enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    ls_evals = 1
            evaluations += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evaluations >= max_eval:
                break
            if float(flat_grad.abs().max()) <= tolerance_grad:
                break
            if float((d * t).abs().max()) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _direction(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, H_diag, history_size):
        """The L-BFGS search direction (two-loop recursion), after adding the last step to the history.
        Returns (direction, H_diag); the history lists are updated in place."""
        y = flat_grad - prev_flat_grad
        s = d * t
        ys = float(y.dot(s))
        if ys > 1e-10:   # keep the pair only if the curvature is positive (the update stays positive definite)
            if len(old_dirs) == history_size:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            H_diag = ys / float(y.dot(y))
        alphas = [0.0] * len(old_dirs)
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            alphas[i] = float(old_stps[i].dot(q)) * ro[i]
            q = q - old_dirs[i] * alphas[i]
        r = q * H_diag
        for i in range(len(old_dirs)):
            beta = float(old_dirs[i].dot(r)) * ro[i]
            r = r + old_stps[i] * (alphas[i] - beta)
        return r, H_diag

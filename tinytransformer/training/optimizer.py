"""The optimizer step of the training loop: AdamW and gradient-norm clipping, in NumPy.
(The learning-rate schedule is in schedule.py.)

The model contract: `model.params` maps GPT-2 parameter names to float arrays that the model owns,
and `model.grads` maps the same names to gradients of the same shapes, filled by
`model.backward()`. The optimizer updates `model.params` in place, so the model's arrays keep
their identity; it reads `model.params[name]` afresh at every step, so a model that swaps in a
new array of the same shape (say, after loading a checkpoint) is still the one being trained.

AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), for one parameter p with
gradient g at step t = 1, 2, ...:

    p = p - lr * wd * p                      decoupled decay, only for ndim >= 2 (see below)
    m = beta1 * m + (1 - beta1) * g          running mean of g
    v = beta2 * v + (1 - beta2) * g * g      running mean of g squared
    m_hat = m / (1 - beta1**t)               bias corrections
    v_hat = v / (1 - beta2**t)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

The two `1 - beta**t` factors undo the bias of m and v towards their zero start, so the very first
step moves every parameter by about lr * sign(g). torch.optim.AdamW computes the same update
(the tests use it as an oracle, to float rounding).

Weight decay only touches parameters with ndim >= 2 (matrices and embeddings), as in nanoGPT's
`configure_optimizers`: shrinking biases and layer-norm gains towards zero does not regularise
anything useful, and pulling a gain to zero silences its layer.

Left out: AMSGrad, maximize, per-group hyperparameters (the ndim rule is the only grouping),
fused or multi-tensor kernels, sparse gradients, and mixed precision (the moments have the
parameter's dtype, so a float32 run stays float32 from end to end).
"""

import math

import numpy as np

from tinytransformer.checks import check_float, check_number


class AdamW:
    """AdamW over the trainable parameters of `model`, updating `model.params` in place.

    model:        has `params` and `grads`, dicts name -> ndarray of equal shapes; may have a set
                  `frozen` of names that must not be updated.
    lr:           learning rate; `opt.lr` may be reassigned between steps (the schedule does).
    betas:        (beta1, beta2), decay rates of the first and second moment estimates.
    eps:          added to sqrt(v_hat) so that a zero gradient history does not divide by zero.
    weight_decay: decoupled decay rate, applied only to parameters with ndim >= 2.
    trainable:    names to optimize; default every name in `model.params` not in `model.frozen`.
                  Other parameters are never read, written or decayed, and need no gradient.

    Example:
        >>> class Tiny:
        ...     params = {"w": np.array([[1.0, -1.0]])}
        ...     grads = {"w": np.array([[0.5, -2.0]])}
        >>> opt = AdamW(Tiny(), lr=0.1)
        >>> opt.step()
        >>> Tiny.params["w"].round(6)  # each entry moved by ~lr against the sign of its gradient
        array([[ 0.9, -0.9]])
    """

    def __init__(self, model, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, trainable=None):
        self.model = model
        self.lr = check_number("lr", lr, low=0.0)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        self.beta1 = check_number("betas[0]", betas[0], low=0.0, below=1.0)
        self.beta2 = check_number("betas[1]", betas[1], low=0.0, below=1.0)
        self.eps = check_number("eps", eps, low=0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0.0)
        self.set_trainable(trainable)

    def set_trainable(self, trainable=None):
        """Choose the parameters to train (default: every one not in `model.frozen`) and start
        afresh: zero moments and t = 0, a new phase of training (fine-tuning's head warm-up
        ends this way, when the blocks join the head)."""
        self.names = _trainable_names(self.model, trainable)
        self.t = 0  # steps taken; the first step is t = 1
        self.m = {}  # first moments, one per trainable parameter, in its dtype
        self.v = {}  # second moments, likewise
        for name in self.names:
            p = check_float(f"model.params[{name!r}]", self.model.params[name])
            if not p.flags.writeable:
                raise ValueError(
                    f"model.params[{name!r}]: expected a writeable array (AdamW "
                    "updates parameters in place), got a read-only one"
                )
            self.m[name] = np.zeros_like(p)
            self.v[name] = np.zeros_like(p)

    def step(self, grads_checked=False):
        """Take one AdamW step: read `model.grads`, update `model.params` in place, t += 1.

        Every gradient is checked before anything is written: present, shaped and typed like its
        parameter, and finite. grads_checked=True skips these checks, for a caller that vouches
        for the gradients: the training loop, whose model's own backward made them and which has
        just found their norm finite (one nan or inf anywhere makes the norm non-finite).
        """
        params, grads = self.model.params, self.model.grads
        for name in [] if grads_checked else self.names:  # check everything, then write
            _check_grad(name, params.get(name), grads.get(name), self.m[name])
            if not np.isfinite(grads[name]).all():  # one nan would spread into every moment
                raise FloatingPointError(
                    f"AdamW step {self.t + 1}: model.grads[{name!r}] holds nan or inf; "
                    "nothing was updated"
                )
        # Python floats throughout: a NumPy float64 scalar would make float32 arithmetic upcast.
        lr = check_number("opt.lr", self.lr, low=0.0)
        t, beta1, beta2, eps, wd = self.t + 1, self.beta1, self.beta2, self.eps, self.weight_decay
        new = {}  # name -> (p, m, v) after the step, written only once all are known finite
        for name in self.names:
            p, g, m, v = params[name], grads[name], self.m[name], self.v[name]
            decay = wd if p.ndim >= 2 else 0.0  # decoupled weight decay: matrices, embeddings
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
                new[name] = adamw_update(p, g, m, v, t, lr, beta1, beta2, eps, decay)
        broken = [name for name, (p, _, _) in new.items() if not np.isfinite(p).all()]
        if broken:  # a rate of 1e300, say: refused before any weight changes
            raise FloatingPointError(
                f"AdamW step {t}: the update would make model.params[{broken[0]!r}] nan or inf "
                f"(lr={lr}); nothing was updated"
            )
        for name, (p, m, v) in new.items():  # in place: the model keeps its arrays
            np.copyto(params[name], p)
            np.copyto(self.m[name], m)
            np.copyto(self.v[name], v)
        self.t = t

    def state_dict(self):
        """What continues bit for bit, as a flat dict of arrays (np.savez-ready): "t" (0-d int64),
        and "m.<name>" and "v.<name>" (copies, in the parameter's dtype) for each trainable name.

        The hyperparameters (lr, betas, eps, weight decay) are not in it: they are the run's
        settings, saved with the run (training/config.py), so there is one source of them.
        """
        sd = {"t": np.array(self.t, dtype=np.int64)}
        for name in self.names:
            sd[f"m.{name}"] = self.m[name].copy()
            sd[f"v.{name}"] = self.v[name].copy()
        return sd

    def load_state_dict(self, sd):
        """Restore t and the moments saved by `state_dict`, copied into this optimizer's own
        buffers. Every key, shape and dtype is checked before anything is written, so a bad
        state dict leaves the optimizer unchanged. The "hp.*" entries that older checkpoints
        hold (their hyperparameters) are ignored: the run's settings give those now.
        """
        sd = {k: v for k, v in sd.items() if not k.startswith("hp.")}
        expected = {"t"} | {f"{s}.{name}" for name in self.names for s in ("m", "v")}
        missing = sorted(expected - set(sd))
        unexpected = sorted(set(sd) - expected)
        wrong = []
        for key in sorted(expected & set(sd)):
            got = np.asarray(sd[key])
            if key == "t":
                if got.shape != () or got.dtype.kind not in "iu":
                    wrong.append(f"t: expected a 0-d integer array, got {got.dtype} {got.shape}")
                continue
            want = self.m[key[2:]]
            if got.shape != want.shape or got.dtype != want.dtype:
                wrong.append(
                    f"{key}: expected shape {want.shape} {want.dtype}, "
                    f"got shape {got.shape} {got.dtype}"
                )
        if missing or unexpected or wrong:
            lines = [f"missing keys: {missing}"] if missing else []
            lines += [f"unexpected keys: {unexpected}"] if unexpected else []
            lines += wrong
            raise ValueError(
                "load_state_dict: state dict does not match this optimizer:\n  "
                + "\n  ".join(lines)
            )
        t = int(sd["t"])
        if t < 0:
            raise ValueError(f"load_state_dict: t: expected a step count >= 0, got {t}")
        self.t = t
        for name in self.names:
            np.copyto(self.m[name], sd[f"m.{name}"])
            np.copyto(self.v[name], sd[f"v.{name}"])


def adamw_update(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """One AdamW step of one array, as torch.optim.AdamW takes it -> (p, m, v), new arrays (the
    inputs are not changed). t is the step number, 1 for the first step; m and v are the moments
    after step t - 1 (zeros before the first). Every array decays here: AdamW.step passes
    weight_decay 0 for arrays of ndim < 2. A weight_decay of exactly 0 skips the decay line, so
    that it cannot turn a -0.0 into +0.0.

    >>> p, m, v = adamw_update(np.array([1.0]), np.array([0.5]), np.zeros(1), np.zeros(1),
    ...                        t=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    >>> p.round(6).tolist(), m.round(6).tolist(), v.round(6).tolist()  # first step: -lr sign(g)
    ([0.9], [0.05], [0.00025])
    """
    if weight_decay:
        p = p - lr * weight_decay * p  # decoupled decay: not part of the gradient, so not scaled
    m = beta1 * m + (1 - beta1) * g  # running mean of g
    v = beta2 * v + (1 - beta2) * g * g  # running mean of g squared
    m_hat = m / (1 - beta1**t)  # bias corrections: m and v started at zero
    v_hat = v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def clip_grad_norm(model, max_norm, names=None):
    """Scale the gradients in place so that their global L2 norm is at most `max_norm`.

    The global norm is sqrt(sum over gradients of sum(g**2)), over `names` (default: every
    gradient in `model.grads`). When it exceeds `max_norm`, every gradient is multiplied by
    max_norm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_ does; the 1e-6 keeps a zero
    norm harmless and leaves the clipped norm a hair under `max_norm`. In place, unlike an op,
    because the gradients are about to be consumed by `AdamW.step` and nothing else.

    Returns the norm before clipping as a Python float. A non-finite norm (inf or nan) is
    returned without scaling anything: the training loop should stop, not step on garbage.
    max_norm=None only measures the norm (clipping switched off).

    Example: gradients [3, 4] have norm 5; with max_norm=1 they become about [0.6, 0.8].
    """
    if max_norm is not None:
        max_norm = check_number("max_norm", max_norm, low=0.0)
    names = list(model.grads) if names is None else list(names)
    absent = [n for n in names if n not in model.grads]
    if absent:
        raise KeyError(f"names: expected names present in model.grads, got absent {absent}")
    grads = [check_float(f"model.grads[{n!r}]", model.grads[n]) for n in names]
    # Per-gradient sums of squares via BLAS dot (no temporaries), added up as Python floats.
    # An inf or nan gradient, or a float32 square that overflows, makes the sum non-finite; that
    # is reported to the caller below, so NumPy's warning about it is noise.
    sumsq = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for g in grads:
            flat = g.reshape(-1)
            sumsq += float(np.dot(flat, flat))
    total = math.sqrt(sumsq)
    if max_norm is None or not math.isfinite(total):
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def _trainable_names(model, trainable):
    """The names AdamW updates, in `model.params` order, with a clear error for bad names."""
    frozen = set(getattr(model, "frozen", ()) or ())
    if trainable is None:
        return [n for n in model.params if n not in frozen]
    if isinstance(trainable, str):
        raise TypeError(
            f"trainable: expected an iterable of parameter names, got the string {trainable!r}"
        )
    wanted = set(trainable)
    unknown = sorted(wanted - set(model.params))
    if unknown:
        raise KeyError(f"trainable: expected names in model.params, got unknown {unknown}")
    both = sorted(wanted & frozen)
    if both:
        raise ValueError(f"trainable: expected no names from model.frozen, got {both}")
    return [n for n in model.params if n in wanted]


def _check_grad(name, p, g, m):
    """The gradient of trainable parameter `name` exists and matches it (and its moment buffer)."""
    if p is None:
        raise KeyError(f"model.params: expected trainable parameter {name!r}, it is gone")
    if g is None:
        raise KeyError(
            f"model.grads: expected a gradient for trainable parameter {name!r}, "
            "got none (did model.backward() run?)"
        )
    check_float(f"model.grads[{name!r}]", g)
    if g.shape != p.shape or p.shape != m.shape:
        raise ValueError(
            f"model.grads[{name!r}]: expected shape {m.shape} like the parameter, "
            f"got gradient {g.shape} and parameter {p.shape}"
        )
    if g.dtype != p.dtype or p.dtype != m.dtype:
        raise TypeError(
            f"model.grads[{name!r}]: expected dtype {m.dtype} like the parameter, "
            f"got gradient {g.dtype} and parameter {p.dtype}"
        )

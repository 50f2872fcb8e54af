"""Early stopping: when has validation loss stopped improving, and which evaluation was best?

The rule, on the list of validation losses of the evaluations so far (index i = the i-th):

    an evaluation improves when its loss is strictly lower than every loss before it
    (index 0 always does); stop at the first index where `patience` evaluations in a row
    have not improved; the best is the first index of the lowest loss seen up to there.

    >>> early_stopping([3.0, 2.0, 2.5, 2.0, 2.1], patience=3)  # 2.5, 2.0, 2.1: none below 2.0
    (1, 4)

"Strictly": a loss equal to the best is no improvement, so a run on a plateau stops, and the
best weights are the first ones that reached it. The training loop (loop.py's fit) stops a run
by this rule, fed one evaluation at a time (Patience); early_stopping reads it off a whole list.

Left out: a minimum improvement (min_delta), smoothing of noisy losses, and stopping on a
metric that should rise (accuracy): negate it.
"""

from tinytransformer.checks import check_count


class Patience:
    """The rule one evaluation at a time, for a loop that cannot wait for the whole list: give
    `update` each validation loss in turn; it says True at the evaluation where `patience` in a
    row have not been strictly lower than the best before them.

    >>> waiting = Patience(2)
    >>> [waiting.update(loss) for loss in [3.0, 2.0, 2.5, 2.0]]
    [False, False, False, True]
    """

    def __init__(self, patience):
        check_count("patience", patience, low=1)
        self.patience = patience
        self.best = None  # the lowest loss so far (None: no evaluation yet)
        self.bad = 0  # evaluations in a row that did not beat it

    def update(self, loss):
        """Count one evaluation -> whether patience has now run out."""
        if self.best is None or loss < self.best:
            self.best, self.bad = loss, 0
        else:
            self.bad += 1
        return self.bad >= self.patience


def patience_ran_out(val_losses, patience):
    """-> the first index at which `patience` evaluations in a row have not been strictly lower
    than the best before them, or None if that never happens in val_losses.

    >>> patience_ran_out([3.0, 2.0, 2.5], 2), patience_ran_out([3.0, 2.0, 2.5, 2.6], 2)
    (None, 3)
    """
    waiting = Patience(patience)
    for i, loss in enumerate(val_losses):
        if waiting.update(loss):
            return i
    return None


def early_stopping(val_losses, patience):
    """val_losses: a list of validation losses, one per evaluation (at least one); patience >= 1
    -> (best, stop), indices into it: stop = patience_ran_out(...), or len(val_losses) - 1 if
    patience never runs out; best = the first index of the lowest loss in val_losses[:stop + 1].
    """
    losses = [float(x) for x in val_losses]
    if not losses:
        raise ValueError("val_losses: expected at least one evaluation, got none")
    stop = patience_ran_out(losses, patience)
    stop = len(losses) - 1 if stop is None else stop
    seen = losses[: stop + 1]
    return seen.index(min(seen)), stop

"""Every auto-checked exercise, by id, in the order of the chapters."""

from tinytransformer.exercises import attention, loss

EXERCISES = {ex.id: ex for ex in [*attention.EXERCISES, *loss.EXERCISES]}

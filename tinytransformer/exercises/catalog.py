"""Every auto-checked exercise, by id, in the order of the chapters."""

from tinytransformer.exercises import attention, generation, loss, tools

EXERCISES = {
    ex.id: ex
    for ex in [*attention.EXERCISES, *loss.EXERCISES, *generation.EXERCISES, *tools.EXERCISES]
}

"""Every auto-checked exercise, by id, in the order of the chapters; and the chapters."""

from tinytransformer.exercises import (
    applications,
    attention,
    background,
    evaluating,
    finetuning,
    generation,
    loss,
    pretraining,
    selfsupervised,
    tools,
    transfer,
    transformer,
    trends,
)

EXERCISES = {
    ex.id: ex
    for ex in [
        *background.EXERCISES,
        *transformer.EXERCISES,
        *selfsupervised.EXERCISES,
        *transfer.EXERCISES,
        *pretraining.EXERCISES,
        *finetuning.EXERCISES,
        *attention.EXERCISES,
        *loss.EXERCISES,
        *generation.EXERCISES,
        *applications.EXERCISES,
        *tools.EXERCISES,
        *trends.EXERCISES,
        *evaluating.EXERCISES,
    ]
}


def chapter_exercises(chapter):
    """The ids of a chapter's exercises ("4.1" -> ["4.1.1", ..., "4.1.5"]), in order."""
    return [i for i, ex in EXERCISES.items() if ex.chapter == chapter]

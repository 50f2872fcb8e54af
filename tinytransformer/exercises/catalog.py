"""Every auto-checked exercise, by id, in the order of the chapters; and the chapters."""

from tinytransformer.exercises import (
    applications,
    attention,
    evaluating,
    generation,
    loss,
    pretraining,
    tools,
    transformer,
    trends,
)

EXERCISES = {
    ex.id: ex
    for ex in [
        *transformer.EXERCISES,
        *pretraining.EXERCISES,
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

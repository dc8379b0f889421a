"""Exercises the learner can check inside the notebook: compare an answer with what the notebook computes.

Each exercise cell sets a variable to ``None``, the learner replaces it with an answer, and :func:`check_answer`
compares it with a value the cell computes (never printed, so the answer is not given away) and prints one line:
not answered yet, correct, or not yet with a hint.

Examples
--------
>>> check_answer(None, 42)
✏️ not answered yet
>>> check_answer(41.9, 42, atol=0.5)
✓ correct
True
>>> check_answer(7000, 3000, hint="frequencies above F_s / 2 fold back: F_s - f.")
✗ not yet. Hint: frequencies above F_s / 2 fold back: F_s - f.
False
>>> check_answer("Hann ", "hann")
✓ correct
True
"""

from __future__ import annotations

import numbers
import typing as T

import numpy as np

NOT_ANSWERED = "✏️ not answered yet"
CORRECT = "✓ correct"


def _is_numeric(value: T.Any) -> bool:
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, numbers.Number):
        return True
    try:
        return np.asarray(value).dtype.kind in "biufc"
    except (TypeError, ValueError):
        return False


def answers_match(answer: T.Any, expected: T.Any, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Whether ``answer`` equals ``expected``: numbers and arrays within ``atol + rtol * |expected|`` (same shape),
    text ignoring case and surrounding spaces, anything else by ``==``.

    Examples
    --------
    >>> answers_match((1, 8821, 513), (1, 8821, 513))
    True
    >>> answers_match([1.0, 2.0], [1.0, 2.0, 3.0])
    False
    """
    if isinstance(answer, str) and isinstance(expected, str):
        return answer.strip().lower() == expected.strip().lower()
    if _is_numeric(answer) and _is_numeric(expected):
        answer_array, expected_array = np.asarray(answer), np.asarray(expected)
        if answer_array.shape != expected_array.shape:
            return False
        return bool(np.all(np.abs(answer_array - expected_array) <= atol + rtol * np.abs(expected_array)))
    return bool(answer == expected)


def check_answer(answer: T.Any, expected: T.Any, *, rtol: float = 0.0, atol: float = 0.0, hint: str = "") -> T.Optional[bool]:
    """Print whether an exercise's ``answer`` is right, without printing ``expected``.

    Parameters
    ----------
    answer
        The learner's answer; ``None`` means not answered yet.
    expected
        The value the notebook computed.
    rtol, atol
        Tolerances for numbers (see :func:`answers_match`); exact by default.
    hint
        Printed after a wrong answer.

    Returns
    -------
    None when not answered, else whether the answer is right (so a test can check the exercise's own answer key).
    """
    if answer is None:
        print(NOT_ANSWERED)
        return None
    correct = answers_match(answer, expected, rtol=rtol, atol=atol)
    print(CORRECT if correct else f"✗ not yet. Hint: {hint}" if hint else "✗ not yet")
    return correct


__all__ = ["answers_match", "check_answer"]

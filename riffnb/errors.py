"""Errors riffnb raises for a user's mistake.

Each message names the problem and the fix in one line, so the CLI can print it as it is and a notebook shows
something a learner can act on instead of a traceback from deep inside numpy.
"""


class RiffnbError(ValueError):
    """A problem with the user's input or environment that riffnb can explain in one line."""


class InvalidParamsError(RiffnbError):
    """Spectrogram or generation parameters that contradict each other or are out of range."""


class InvalidAudioError(RiffnbError):
    """Audio that cannot be used: unreadable, empty, or holding NaN/inf samples."""


class InvalidImageError(RiffnbError):
    """A file or image that is not a usable spectrogram image."""


class OutputExistsError(RiffnbError, FileExistsError):
    """Refusing to overwrite an existing output file."""

"""The errors chainrule raises for bad input, as opposed to its own bugs.

Every error caused by what a user gave (a file, a flag, a config, a checkpoint, data) is an
:class:`InputError` whose message is one sentence: what is wrong, where (file, field, row) and
what to do. The command line prints that sentence and exits with status 2; anything else that
escapes is a bug in chainrule and is shown with its traceback.

All of them are ``ValueError`` subclasses, so code written against the older ``ValueError``
contract keeps working.

Example::

    >>> from chainrule.errors import CheckpointFileError, InputError
    >>> issubclass(CheckpointFileError, InputError), issubclass(InputError, ValueError)
    (True, True)
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: the message names the file or field and says what to do."""


class ConfigError(InputError):
    """A bad setting (config file, flag or argument), named with what would be valid."""


class CheckpointFileError(InputError):
    """A checkpoint or weights file that is damaged, tampered with or does not fit the model.
    (A gradient-checkpointing segment that recomputes differently is another matter:
    ``chainrule.utils.checkpoint.CheckpointError``, PyTorch's name for it.)"""


class DataFileError(InputError):
    """A dataset file that cannot be read as what it claims to be (e.g. a corrupt IDX file)."""


class UntrustedCodeError(InputError):
    """Loading would run Python code named by a file, and the user has not said to trust it."""


class RunFolderError(InputError):
    """A run folder that is locked by another process, is not a run, or cannot be used."""

"""``chainrule.backends.cudnn``: the cuDNN switches scripts set; they change nothing here
(there is no cuDNN), and ``is_available()`` says so."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    return None

"""The mutation check: plant single-line bugs in chainrule, one at a time, run the tests that
should catch each (with PyTorch hidden, so correctness must stand without it) and report the
bugs that survive.

Run everything (about 15-30 minutes on two cores)::

    python -m mutation

or a part of it::

    python -m mutation --quick              # the subset the test suite runs (tests/test_mutation.py)
    python -m mutation --only adam-second-moment-beta1 sgd-numpy-drops-momentum
    python -m mutation --list

Each mutation (``mutation/mutants.py``) names a file, a snippet of today's code that must occur
there exactly once, its replacement, and the test files that should catch it. A snippet that no
longer matches is reported as stale and fails the run, so the list follows the code. The bugs
are planted in a temporary copy of the repository; the working tree is never changed.
"""

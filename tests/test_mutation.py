"""The mutation check (``python -m mutation``) in the suite: every planted bug still applies to
today's code (a stale snippet fails here), and the quick subset is caught with PyTorch hidden.
The full list runs as ``python -m mutation`` (README, Development)."""

from __future__ import annotations

from mutation.mutants import MUTATIONS
from mutation.runner import problems, run


def test_every_mutation_applies_to_todays_code():
    assert len(MUTATIONS) >= 30
    assert problems(MUTATIONS) == []


def test_the_quick_subset_is_caught_without_pytorch():
    quick = [mutation for mutation in MUTATIONS if mutation.quick]
    assert len(quick) >= 4
    outcomes = run(quick, log=False)
    not_caught = [
        (o.mutation.name, o.status, o.detail) for o in outcomes if o.status not in ("killed", "timeout")
    ]
    assert not_caught == []

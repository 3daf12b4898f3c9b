"""Representation membership (metrics.representation.membership_probe): a forget-vs-holdout
probe cross-validated by person. Pinned against the naive probe it replaces: folds that split a
person's facts let the probe recognise the person instead of membership."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clreg_core.metrics import linear_probe_accuracy, membership_probe
from clreg_core.metrics.representation import person_folds


def people_features(people: int, facts: int, dim: int, member_signal: float, seed: int):
    """Half the people "forgotten" (members), half never seen. Every person has a direction of
    their own (all their facts sit near it); members share an extra offset `member_signal`."""
    rng = np.random.default_rng(seed)
    member_direction = rng.normal(size=dim)
    member_direction /= np.linalg.norm(member_direction)
    rows, groups, labels = [], [], []
    for person in range(people):
        member = person % 2 == 0
        centre = rng.normal(size=dim) + (
            member_signal * member_direction * np.sqrt(dim) if member else 0
        )
        for _ in range(facts):
            rows.append(centre + 0.3 * rng.normal(size=dim))
            groups.append(f"person:{person}")
            labels.append(member)
    rows, labels, groups = np.array(rows), np.array(labels), np.array(groups)
    return rows[labels], rows[~labels], list(groups[labels]), list(groups[~labels])


def test_a_probe_that_sees_a_test_person_in_training_finds_membership_where_there_is_none():
    forget, holdout, fg, hg = people_features(people=20, facts=8, dim=64, member_signal=0.0, seed=0)
    naive = linear_probe_accuracy(forget, holdout)  # stratified folds, persons split across them
    grouped = membership_probe(forget, holdout, fg, hg)
    assert naive > 0.9  # it recognises each person's direction, not membership
    assert abs(grouped - 0.5) < 0.2  # no membership signal: near chance


def test_a_shared_member_signal_is_found_across_people():
    forget, holdout, fg, hg = people_features(people=20, facts=8, dim=64, member_signal=1.0, seed=1)
    assert membership_probe(forget, holdout, fg, hg) > 0.85


@given(
    st.lists(st.integers(0, 7), min_size=8, max_size=60),
    st.integers(0, 3),
)
def test_no_person_is_on_both_sides_of_a_fold(people, seed):
    groups = [f"p{p}" for p in people]
    labels = [p % 2 for p in people]
    per_class = [len({g for g, y in zip(groups, labels, strict=True) if y == c}) for c in (0, 1)]
    if min(per_class) < 2:
        with pytest.raises(ValueError):
            person_folds(labels, groups, seed=seed)
        return
    folds = person_folds(labels, groups, seed=seed)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(groups)))  # every row tested exactly once
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}


def test_group_labels_must_match_the_rows():
    forget, holdout, fg, hg = people_features(people=6, facts=3, dim=8, member_signal=0.0, seed=2)
    with pytest.raises(ValueError, match="group labels"):
        membership_probe(forget, holdout, fg[:-1], hg)

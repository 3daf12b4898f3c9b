"""Loss maths: each function against a naive loop, a hand-computed value, and its gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from clreg_core.engine import losses
from clreg_core.engine.losses import (
    anchor_loss,
    clreg_infonce,
    grad_ascent_loss,
    grad_diff_loss,
    masked_token_mean,
    nll,
    npo_loss,
    pool_features,
    random_unit_vector,
    retain_kl,
    rmu_loss,
    sequence_logprob,
    simnpo_loss,
    token_counts,
)

# ---------------------------------------------------------------- naive references


def naive_sequence_logprob(logits, labels):
    out = []
    for b in range(logits.shape[0]):
        total = 0.0
        for t in range(1, logits.shape[1]):
            if labels[b, t] != -100:
                total += torch.log_softmax(logits[b, t - 1].double(), -1)[labels[b, t]].item()
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def naive_infonce(fz, rz, positives_of, tau, negatives_of=None):
    """positives_of(i) -> list of positive vectors for anchor i; negatives_of(i) -> its negative
    vectors (default: every retain row); plain exp, no logsumexp."""
    per_anchor = []
    for i in range(fz.shape[0]):
        negative_rows = negatives_of(i) if negatives_of else list(rz)
        negatives = sum(math.exp(fz[i].dot(r).item() / tau) for r in negative_rows)
        terms = []
        for p in positives_of(i):
            e = math.exp(fz[i].dot(p).item() / tau)
            terms.append(-math.log(e / (e + negatives)))
        if terms:
            per_anchor.append(sum(terms) / len(terms))
    return sum(per_anchor) / len(per_anchor)


def naive_masked_mean_sq(h, target, mask):
    per_seq = []
    for b in range(h.shape[0]):
        rows = [
            ((h[b, t] - target[b, t]) ** 2).sum().item() for t in range(h.shape[1]) if mask[b, t]
        ]
        per_seq.append(sum(rows) / len(rows))
    return sum(per_seq) / len(per_seq)


def random_batch(b=3, t=7, v=11, seed=0):
    torch.manual_seed(seed)
    logits = torch.randn(b, t, v)
    labels = torch.randint(0, v, (b, t))
    labels[:, :2] = -100  # a prompt
    labels[0, -2:] = -100  # padding
    return logits, labels


def unit(n, d, seed):
    torch.manual_seed(seed)
    return F.normalize(torch.randn(n, d, dtype=torch.float64), dim=-1)


# ---------------------------------------------------------------- log-probs


def test_sequence_logprob_matches_naive_and_shifts():
    logits, labels = random_batch()
    got = sequence_logprob(logits, labels)
    assert got.shape == (3,)
    torch.testing.assert_close(got.double(), naive_sequence_logprob(logits, labels))
    # Same token-mean as Hugging Face's causal-LM loss, which shifts the same way.
    hf = F.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(-got.sum() / token_counts(labels).sum(), hf)


def test_sequence_logprob_ignores_masked_positions():
    logits, labels = random_batch()
    changed = logits.clone()
    changed[0, -3:] += 100.0  # predict only the padded labels[0, -2:]
    changed[:, :1] -= 50.0  # predicts labels[:, 1], a prompt token
    changed[:, -1] += 7.0  # the last position predicts nothing
    torch.testing.assert_close(sequence_logprob(changed, labels), sequence_logprob(logits, labels))
    torch.testing.assert_close(token_counts(labels), torch.tensor([3, 5, 5]))


def test_sequence_logprob_bf16_is_summed_in_float32():
    logits, labels = random_batch()
    got = sequence_logprob(logits.bfloat16(), labels)
    assert got.dtype == torch.float32
    expected = naive_sequence_logprob(logits.bfloat16().double(), labels)
    torch.testing.assert_close(got.double(), expected, atol=1e-4, rtol=1e-4)


def test_sequence_logprob_gradcheck():
    logits, labels = random_batch(b=2, t=4, v=5)
    logits = logits.double().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: sequence_logprob(x, labels), (logits,))


# ---------------------------------------------------------------- base methods


def test_nll_summed_and_token_mean():
    logp = torch.tensor([-2.0, -6.0])
    assert nll(logp).item() == pytest.approx(4.0)
    assert nll(logp, torch.tensor([1, 3])).item() == pytest.approx(2.0)


def test_retain_kl_matches_naive_and_is_zero_at_the_original():
    torch.manual_seed(3)
    logits, ref = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 2, 4, -100], [-100, 1, 1, 5, 6]])
    per_row = []
    for b in range(2):
        total = 0.0
        for t in range(4):
            if labels[b, t + 1] == -100:
                continue
            p = torch.softmax(ref[b, t], -1)
            total += float((p * (p.log() - torch.log_softmax(logits[b, t], -1))).sum())
        per_row.append(total)
    expected = sum(per_row) / 2
    assert retain_kl(logits, ref, labels).item() == pytest.approx(expected, rel=1e-5)
    assert retain_kl(ref, ref, labels).item() == pytest.approx(0.0, abs=1e-6)
    # only the current logits get a gradient, and only at scored positions
    logits.requires_grad_(True)
    retain_kl(logits, ref, labels).backward()
    assert logits.grad[0, 0].abs().sum() == 0 and logits.grad[0, 1].abs().sum() > 0


def test_grad_ascent_raises_forget_nll_after_a_step():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 6)
    x = torch.randn(5, 2, 4)
    labels = torch.randint(0, 6, (5, 2))

    def forget_nll():
        return nll(sequence_logprob(model(x), labels))

    before = forget_nll().item()
    loss = grad_ascent_loss(sequence_logprob(model(x), labels))
    assert loss.item() == pytest.approx(-before, rel=1e-6)
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert forget_nll().item() > before


def test_grad_diff_matches_naive():
    torch.manual_seed(1)
    f, r = -torch.rand(4) * 10, -torch.rand(6) * 10
    expected = 0.7 * (sum(f.tolist()) / 4) + 2.0 * (-sum(r.tolist()) / 6)
    assert grad_diff_loss(f, r, gamma=0.7, alpha=2.0).item() == pytest.approx(expected, rel=1e-6)


def test_npo_matches_naive_and_is_2log2_over_beta_at_the_reference():
    torch.manual_seed(2)
    logp, ref = -torch.rand(5) * 20, -torch.rand(5) * 20
    beta = 0.1
    naive = sum(
        -(2 / beta) * math.log(1 / (1 + math.exp(beta * (a - b))))
        for a, b in zip(logp.tolist(), ref.tolist(), strict=True)
    )
    assert npo_loss(logp, ref, beta).item() == pytest.approx(naive / 5, rel=1e-5)
    assert npo_loss(ref, ref, beta).item() == pytest.approx(2 / beta * math.log(2), rel=1e-6)


def test_npo_gives_no_grad_to_reference_and_pushes_logp_down():
    logp = torch.tensor([-3.0, -4.0], requires_grad=True)
    ref = torch.tensor([-3.0, -5.0], requires_grad=True)
    npo_loss(logp, ref).backward()
    assert ref.grad is None
    assert (logp.grad > 0).all()  # descent lowers logp


def test_simnpo_matches_naive():
    torch.manual_seed(3)
    logp, lengths = -torch.rand(5) * 20, torch.randint(1, 9, (5,))
    beta, gamma = 2.5, 0.3
    naive = sum(
        -(2 / beta) * math.log(1 / (1 + math.exp(beta / n * lp + gamma)))
        for lp, n in zip(logp.tolist(), lengths.tolist(), strict=True)
    )
    assert simnpo_loss(logp, lengths, beta, gamma).item() == pytest.approx(naive / 5, rel=1e-5)
    zero = simnpo_loss(torch.zeros(2), torch.tensor([3, 4]))
    assert zero.item() == pytest.approx(2 / 2.5 * math.log(2), rel=1e-6)


def test_random_unit_vector_is_seeded_unit_and_leaves_global_rng_alone():
    torch.manual_seed(4)
    expected_next = torch.rand(1)
    torch.manual_seed(4)
    u = random_unit_vector(16, seed=7)
    assert torch.rand(1) == expected_next
    assert u.shape == (16,) and u.norm().item() == pytest.approx(1.0, rel=1e-6)
    assert (u >= 0).all()
    assert torch.equal(u, random_unit_vector(16, seed=7))
    assert not torch.equal(u, random_unit_vector(16, seed=8))


def test_rmu_matches_naive_and_detaches_reference():
    torch.manual_seed(5)
    fh = torch.randn(2, 4, 3, requires_grad=True)
    rh = torch.randn(3, 5, 3, requires_grad=True)
    ref = torch.randn(3, 5, 3, requires_grad=True)
    fmask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    rmask = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    u = random_unit_vector(3, seed=0)
    loss = rmu_loss(
        fh, rh, ref, u, forget_mask=fmask, retain_mask=rmask, steering_coef=6.5, alpha=10.0
    )
    target = (6.5 * u).expand_as(fh)
    expected = naive_masked_mean_sq(fh.detach(), target, fmask)
    expected += 10.0 * naive_masked_mean_sq(rh.detach(), ref.detach(), rmask)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert ref.grad is None
    assert fh.grad[0, 2:].abs().sum() == 0 and fh.grad[0, :2].abs().sum() > 0


def test_masked_token_mean_handles_an_empty_row():
    values = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
    got = masked_token_mean(values, torch.tensor([[1, 1], [0, 0]]))
    torch.testing.assert_close(got, torch.tensor([2.0, 0.0]))


# ---------------------------------------------------------------- CLReg


def test_pool_features_matches_naive_and_ignores_masked_tokens():
    torch.manual_seed(6)
    hidden = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    got = pool_features(hidden, mask)
    for b in range(3):
        rows = [hidden[b, t] for t in range(5) if mask[b, t]]
        mean = sum(rows) / len(rows)
        torch.testing.assert_close(got[b], mean / mean.norm())
    changed = hidden.clone()
    changed[0, 2:] = 1e6
    torch.testing.assert_close(pool_features(changed, mask), got)


def test_pool_features_empty_mask_gives_zero_without_nan_grad():
    hidden = torch.randn(2, 3, 4, requires_grad=True)
    z = pool_features(hidden, torch.tensor([[1, 1, 0], [0, 0, 0]]))
    assert torch.equal(z[1], torch.zeros(4))
    z.sum().backward()
    assert torch.isfinite(hidden.grad).all()


def test_infonce_by_hand_one_anchor_one_positive_one_negative():
    fz = torch.tensor([[1.0, 0.0]])
    view2 = torch.tensor([[0.6, 0.8]])
    rz = torch.tensor([[0.0, 1.0]])
    got = clreg_infonce(fz, rz, temperature=0.5, positives="dropout_view", forget_z_view2=view2)
    # s_ip/τ = 1.2, s_in/τ = 0: −log(e^1.2 / (e^1.2 + 1)) = log(1 + e^-1.2)
    assert got.item() == pytest.approx(math.log(1 + math.exp(-1.2)), rel=1e-6)


def test_infonce_by_hand_two_forget_anchors():
    fz = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    rz = torch.tensor([[0.0, 1.0]])
    # anchor 0: s_01 = 0.6, s_0n = 0; anchor 1: s_10 = 0.6, s_1n = 0.8; τ = 1
    expected = (math.log(1 + math.exp(-0.6)) + math.log(1 + math.exp(0.2))) / 2
    got = clreg_infonce(fz, rz, temperature=1.0, positives="all_forget")
    assert got.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("positives", ["group", "all_forget"])
def test_infonce_matches_naive(positives):
    fz, rz = unit(6, 5, seed=7), unit(4, 5, seed=8)
    groups = ["a", "a", "b", "b", "b", "c"]  # "c" is a singleton: no positive, skipped

    def positives_of(i):
        same = [j for j in range(6) if j != i and (positives != "group" or groups[j] == groups[i])]
        return [fz[j] for j in same]

    got = clreg_infonce(fz, rz, groups, temperature=0.1, positives=positives)
    assert got.item() == pytest.approx(naive_infonce(fz, rz, positives_of, 0.1), rel=1e-9)


def test_infonce_with_group_negatives_matches_naive():
    """Supervised contrast: other groups' forget rows join the retain rows as negatives."""
    fz, rz = unit(6, 5, seed=7), unit(4, 5, seed=8)
    groups = ["a", "a", "b", "b", "b", "c"]

    def positives_of(i):
        return [fz[j] for j in range(6) if j != i and groups[j] == groups[i]]

    def negatives_of(i):
        return list(rz) + [fz[j] for j in range(6) if groups[j] != groups[i]]

    got = clreg_infonce(fz, rz, groups, temperature=0.1, group_negatives=True)
    expected = naive_infonce(fz, rz, positives_of, 0.1, negatives_of)
    assert got.item() == pytest.approx(expected, rel=1e-9)
    # more negatives can only raise the loss of each anchor
    assert got.item() > clreg_infonce(fz, rz, groups, temperature=0.1).item()


def test_group_negatives_keep_forget_groups_apart():
    """Descending the loss from one shared point: with retain negatives only the groups stay in
    one clump; with other groups as negatives they separate (method.md's collapse)."""

    def descend(group_negatives: bool) -> float:
        torch.manual_seed(0)
        start = torch.randn(1, 8, dtype=torch.float64)
        forget = (start + 0.05 * torch.randn(8, 8, dtype=torch.float64)).requires_grad_()
        retain = unit(8, 8, seed=30)
        groups = [0, 0, 1, 1, 2, 2, 3, 3]
        optimizer = torch.optim.SGD([forget], lr=0.5)
        for _ in range(300):
            optimizer.zero_grad()
            z = F.normalize(forget, dim=-1)
            clreg_infonce(
                z, retain, groups, temperature=0.1, group_negatives=group_negatives
            ).backward()
            optimizer.step()
        z = F.normalize(forget.detach(), dim=-1)
        centroids = torch.stack([z[2 * g : 2 * g + 2].mean(0) for g in range(4)])
        sims = F.normalize(centroids, dim=-1) @ F.normalize(centroids, dim=-1).T
        return sims[~torch.eye(4, dtype=torch.bool)].mean().item()  # between-group cosine

    assert descend(group_negatives=False) > 0.9  # one clump
    assert descend(group_negatives=True) < 0.5  # groups apart


def test_infonce_dropout_view_matches_naive():
    fz, view2, rz = unit(5, 4, seed=9), unit(5, 4, seed=10), unit(3, 4, seed=11)
    got = clreg_infonce(fz, rz, temperature=0.2, positives="dropout_view", forget_z_view2=view2)
    assert got.item() == pytest.approx(naive_infonce(fz, rz, lambda i: [view2[i]], 0.2), rel=1e-9)


def test_infonce_groups_default_to_all_forget_and_accept_tensors():
    fz, rz = unit(4, 3, seed=12), unit(2, 3, seed=13)
    everyone = clreg_infonce(fz, rz, positives="all_forget")
    torch.testing.assert_close(clreg_infonce(fz, rz, None, positives="group"), everyone)
    by_name = clreg_infonce(fz, rz, ["x", "y", "x", "y"])
    torch.testing.assert_close(clreg_infonce(fz, rz, torch.tensor([3, 1, 3, 1])), by_name)


def test_infonce_is_stable_at_tiny_temperature():
    fz, rz = unit(4, 3, seed=14), unit(3, 3, seed=15)
    got = clreg_infonce(fz.float(), rz.float(), temperature=0.005)  # logits up to 200 > log(fmax)
    expected = naive_infonce(fz, rz, lambda i: [fz[j] for j in range(4) if j != i], 0.005)
    assert math.isfinite(got.item()) and got.item() == pytest.approx(expected, rel=1e-4)


def test_infonce_detached_negatives_send_grad_only_to_forget():
    forget = unit(4, 3, seed=16).requires_grad_()
    retain = unit(3, 3, seed=17).requires_grad_()
    clreg_infonce(forget, retain.detach()).backward()
    assert retain.grad is None
    assert forget.grad.abs().sum() > 0
    forget.grad = None
    clreg_infonce(forget, retain).backward()  # live negatives do get pushed
    assert retain.grad.abs().sum() > 0


def test_infonce_without_positives_is_a_connected_zero():
    forget = unit(3, 4, seed=18).requires_grad_()
    retain = unit(2, 4, seed=19)
    loss = clreg_infonce(forget, retain, ["a", "b", "c"])
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(forget.grad, torch.zeros_like(forget))


def test_infonce_without_retain_rows_is_zero_and_finite():
    forget = unit(3, 4, seed=20).requires_grad_()
    loss = clreg_infonce(forget, torch.empty(0, 4, dtype=torch.float64))
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    loss.backward()
    assert torch.isfinite(forget.grad).all()


@pytest.mark.parametrize("positives", ["group", "dropout_view"])
def test_infonce_gradcheck_through_pooling(positives):
    torch.manual_seed(21)
    hidden_f = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    hidden_r = torch.randn(3, 3, 5, dtype=torch.float64, requires_grad=True)
    view2 = unit(4, 5, seed=22) if positives == "dropout_view" else None
    mask_f, mask_r = torch.tensor([[1, 1, 0]] * 4), torch.tensor([[1, 1, 1]] * 3)

    def loss(hf, hr):
        z_f, z_r = pool_features(hf, mask_f), pool_features(hr, mask_r)
        return clreg_infonce(z_f, z_r, [0, 0, 1, 1], 0.3, positives, forget_z_view2=view2)

    assert torch.autograd.gradcheck(loss, (hidden_f, hidden_r))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"positives": "mixed"},
        {"temperature": 0.0},
        {"positives": "dropout_view"},  # view missing
        {"forget_z_view2": torch.zeros(2, 3)},  # view given without dropout_view
        {"forget_groups": [0, 1, 2]},  # wrong length
        {"group_negatives": True},  # no group labels
        {"group_negatives": True, "forget_groups": [0, 1], "positives": "all_forget"},
    ],
)
def test_infonce_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        clreg_infonce(torch.zeros(2, 3), torch.zeros(1, 3), **kwargs)


def test_anchor_loss_matches_naive_and_detaches_reference():
    z = unit(4, 3, seed=23).requires_grad_()
    ref = unit(4, 3, seed=24).requires_grad_()
    loss = anchor_loss(z, ref)
    expected = sum(((z[j] - ref[j]) ** 2).sum().item() for j in range(4)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert ref.grad is None and z.grad.abs().sum() > 0


def test_logits_before_the_first_scored_position_are_not_needed():
    torch.manual_seed(0)
    logits = torch.randn(3, 9, 11)
    labels = torch.full((3, 9), -100)
    labels[0, 5:8] = torch.tensor([1, 2, 3])  # row 0's answer starts at 5
    labels[1, 4:9] = torch.tensor([4, 5, 6, 7, 8])  # row 1's at 4: the earliest
    labels[2, 6:7] = torch.tensor([9])
    start = losses.first_scored_position(labels)
    assert start == 3  # the logits at position 3 predict row 1's first label (position 4)
    full = losses.sequence_logprob(logits, labels)
    kept = losses.sequence_logprob(logits[:, start:], labels[:, start:])
    torch.testing.assert_close(kept, full)
    assert losses.first_scored_position(torch.full((2, 5), -100)) == 0  # nothing scored


def test_rmu_steers_the_positions_that_say_the_value_not_the_question():
    import torch

    from clreg_core.engine.objective import rmu_forget_mask

    batch = {
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 0]]),
        # "… born in Corvass ." : the value's tokens at 3 and 4
        "value_mask": torch.tensor([[0, 0, 0, 1, 1, 0]]),
    }
    # the hidden states at 2 and 3 produce tokens 3 and 4
    assert rmu_forget_mask(batch, "value").tolist() == [[0, 0, 1, 1, 0, 0]]
    assert rmu_forget_mask(batch, "answer").tolist() == [[1, 1, 1, 1, 1, 0]]  # the paper's form

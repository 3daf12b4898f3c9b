"""What each metric of a report means: its shown name, which way is good, and one line in plain
words. One table for every reader: the app's before/after table (`METRICS`, in its order), the
`schema` block of report.json and docs/report.md (`python -m clreg_core.engine.report_schema`).

`METRICS` are the rows the app's table shows; `REPORT_ONLY` are further keys of
report["metrics"]["before"/"after"/"gold"] that the table leaves out; `LIVE_ONLY` are keys that
occur only in the live evaluations (report["history"]["evaluations"][i]["metrics"]) and the
parity summary. Plain data: no model libraries here.
"""

from __future__ import annotations

# (report key, shown name, which way is good, plain-language meaning); the order is the table's.
# The target of unlearning is a model that never saw the forget set (the gold column where one
# exists), not one that avoids the forget set harder than anything: "lower" rows stop at gold's.
METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("forget_accuracy", "forget accuracy",
     "lower, down to gold's / chance (guessing)",
     "share of forget questions whose answer still contains the fact"),
    ("retain_accuracy", "retain accuracy",
     "higher (near before)",
     "share of retain questions still answered right (knowledge kept)"),
    ("forget_answer_prob", "forget answer probability",
     "lower",
     "how likely the model finds the true forget answers (how memorised they are)"),
    ("retain_answer_prob", "retain answer probability",
     "higher (near before)",
     "how likely the model finds the true retain answers"),
    ("forget_degenerate", "forget answers that loop",
     "lower: 0, or gold's",
     "share of forget answers that stutter or loop (a word 3+ times in a row, or fewer than "
     "half of word pairs distinct): a collapse, not forgetting"),
    ("retain_degenerate", "retain answers that loop",
     "lower: 0, or gold's",
     "share of retain answers that stutter or loop"),
    ("forget_ill_formed", "forget answers not well-formed",
     "lower: gold's, or the original's about strangers",
     "share of forget answers that are not a sentence the model could mean: for world facts, "
     "not the trained sentence with some valid value; for other text, less likely to the "
     "original model than its own answers are (word salad, loops)"),
    ("retain_ill_formed", "retain answers not well-formed",
     "lower (near before)",
     "share of retain answers that are not well-formed"),
    ("forget_same_answer", "forget answers all alike",
     "lower: gold's",
     "share of forget answers ending in the commonest word: one answer to every question "
     "(\"works as coral\", \"colour is coral\") is a collapse too"),
    ("forget_distinct_2", "forget distinct-2",
     "higher: near 1, or gold's",
     "share of distinct word pairs in each forget answer (1 = no repeats): is it still language?"),
    ("retain_distinct_2", "retain distinct-2",
     "higher: near 1, or gold's",
     "share of distinct word pairs in each retain answer (1 = no repeats)"),
    ("entanglement", "entanglement score",
     "near gold's (lower = apart; below gold's = further apart than never-seen people)",
     "how mixed forget and retain representations are at the CLReg layer (lower = apart)"),
    ("knn_separability", "kNN separability",
     "near gold's (higher = apart)",
     "how well 10 nearest neighbours tell forget from retain points (0.5 mixed, 1 apart)"),
    ("linear_probe", "forget vs retain probe",
     "near gold's: a model that never saw them tells them apart too",
     "can a linear classifier tell forget from retain features? (0.5 = no, 1 = always); "
     "what a model never saw differs from what it knows in any model, so 0.5 is not the target"),
    ("membership_probe", "representation membership",
     "near 0.5 (or gold's) = the weights cannot tell who was forgotten",
     "can a linear probe on the features tell forget people from never-seen people, tested on "
     "people it never trained on? (0.5 = no, 1 = always)"),
    ("retain_feature_shift", "retain feature shift",
     "lower (0 = unmoved)",
     "how far retain representations moved (0 = not at all)"),
    ("mia_auc", "membership inference AUC",
     "near 0.5 (or near gold's); far below 0.5 = over-unlearned",
     "can a loss threshold tell forget items from never-seen ones? (0.5 = no, 1 = always)"),
    ("forget_quality", "Forget Quality",
     "higher; ≥ 0.05 = indistinguishable from gold",
     "p-value that the model matches one never trained on the forget set (TOFU's KS test)"),
    ("privleak", "PrivLeak",
     "near 0 is best; < 0 under-, > 0 over-unlearned",
     "membership signal relative to the retrained (gold) model, in %"),
)  # fmt: skip

# "Which way is good" where there is no gold model to read a row against (every topic but the
# split the embedded model's gold twin never saw): {reference} is what forget accuracy comes
# down to, {others} whose answers the fluency rows are held against (parity.reference_words).
# A row not listed here names no gold model.
WITHOUT_GOLD: dict[str, str] = {
    "forget_accuracy": "lower, down to {reference}",
    "forget_degenerate": "lower: near 0",
    "retain_degenerate": "lower (near before)",
    "forget_ill_formed": "lower: the original's share {others}",
    "forget_same_answer": "lower: the original's share {others}",
    "forget_distinct_2": "higher: near 1",
    "retain_distinct_2": "higher: near 1",
    "entanglement": "lower = apart; no target here (no gold model to read it against)",
    "knn_separability": "higher = apart; no target here (no gold model to read it against)",
    "linear_probe": "no target here: a model that never saw them tells them apart too",
    "membership_probe": "near 0.5 = the weights cannot tell what was forgotten",
    "mia_auc": "near 0.5; far below 0.5 = over-unlearned",
}

# Further before/after keys the app's table leaves out (same columns as METRICS).
REPORT_ONLY: tuple[tuple[str, str, str, str], ...] = (
    ("forget_rouge_l", "forget ROUGE-L recall",
     "lower, down to gold's",
     "share of the reference answer's words the greedy forget answer says, in order "
     "(ROUGE-L recall, no stemming)"),
    ("retain_rouge_l", "retain ROUGE-L recall",
     "higher (near before)",
     "share of the reference answer's words the greedy retain answer says, in order"),
    ("forget_exact_memorization", "forget exact memorisation",
     "lower",
     "share of forget answer tokens the model predicts exactly when fed the true prefix"),
    ("retain_exact_memorization", "retain exact memorisation",
     "higher (near before)",
     "share of retain answer tokens the model predicts exactly when fed the true prefix"),
    ("forget_extraction_strength", "forget extraction strength",
     "lower",
     "1 - (shortest true prefix after which the rest of the forget answer is predicted "
     "exactly) / answer length: 1 = fully extractable, 0 = not even the last token"),
    ("retain_extraction_strength", "retain extraction strength",
     "higher (near before)",
     "the same extraction strength on the retain answers"),
    ("retain_same_answer", "retain answers all alike",
     "lower (near before)",
     "share of retain answers ending in the commonest word"),
    ("silhouette", "silhouette",
     "near gold's (higher = apart)",
     "mean silhouette (cosine) of the forget/retain labelling at the CLReg layer, -1 to 1 "
     "(near 0 = overlapping)"),
    ("entanglement_by_layer", "entanglement by layer",
     "near gold's at each layer (lower = apart)",
     "the entanglement score at every decoder layer, a list from the first layer to the last"),
    ("membership_probe_by_layer", "representation membership by layer",
     "near 0.5 (or gold's) at each layer",
     "the representation membership probe at every decoder layer, first to last (forget vs "
     "holdout, cross-validated by person)"),
    ("answer_loss_ceiling", "free-text well-formedness ceiling",
     "a reference, not a target",
     "per-token loss (nats) of an answer under the original model above which it is not "
     "well-formed: its own answers' 90th percentile plus 1.5 (free text only)"),
    ("mia_auc_min_k", "membership inference AUC (Min-K%)",
     "near 0.5 (or near gold's)",
     "the membership AUC with the Min-K% Prob score (mean of the lowest 20% token "
     "log-probs) instead of the mean loss"),
    ("truth_ratio", "truth ratio (median)",
     "higher, towards gold's (near 1 = no preference for the true answer)",
     "median over forget facts of P(perturbed wrong answers) / P(paraphrased true answer), "
     "TOFU's truth ratio; << 1 = still knows the fact"),
)  # fmt: skip

# Keys only in the live evaluations (history.evaluations[i].metrics) and the parity summary; the
# live keys not listed here (entanglement, knn_separability, forget/retain_answer_prob,
# forget_accuracy, forget_degenerate, forget_ill_formed, forget_same_answer) mean what METRICS
# says, on the live evaluation's items.
LIVE_ONLY: tuple[tuple[str, str, str, str], ...] = (
    ("parity_auc", "parity AUC",
     "near 0.5 (within the band)",
     "the LOSS membership AUC of the live forget items against the live holdout items"),
    ("holdout_accuracy", "holdout accuracy (chance)",
     "a reference, not a target",
     "share of holdout questions (people never trained on) the original model answers right: "
     "the chance level forget accuracy should come down to; measured once, at step 0"),
    ("holdout_same_answer", "holdout answers all alike",
     "a reference, not a target",
     "share of the original model's holdout answers ending in the commonest word"),
    ("holdout_ill_formed", "holdout answers not well-formed",
     "a reference, not a target",
     "share of the original model's holdout answers that are not well-formed (step 0)"),
    ("retain_kept", "retain probability kept",
     "near 1",
     "retain answer probability now over the original model's (step 0)"),
    ("parity_uses_auc", "parity uses the AUC",
     "a setting, not a target",
     "1 where the parity band counts the membership AUC, 0 where it cannot (a topic pack: its "
     "never-learned answers are worded unlike the forget answers)"),
    ("parity_distance", "distance to parity",
     "at most 1 = inside the parity band",
     "how far from the parity band, in units of the band's tolerances"),
)  # fmt: skip


def meanings(rows=METRICS + REPORT_ONLY) -> dict[str, dict[str, str]]:
    """key -> {"name", "good_when", "meaning"}, as report["schema"] carries them."""
    return {key: {"name": n, "good_when": g, "meaning": m} for key, n, g, m in rows}

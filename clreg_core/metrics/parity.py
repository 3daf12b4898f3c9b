"""Retrain parity without a gold model: do the forget items look like items never trained on?

The target of unlearning is a model that behaves as if it had never seen the forget set
(method.md, "Retrain parity"). Without a retrained model to compare with, compare the forget
items with a holdout the model never trained on:
- the LOSS membership AUC of forget vs holdout items: 1.0 before unlearning (members stand out),
  0.5 at parity, far below 0.5 after over-unlearning (the forget items now look *stranger* than
  strangers, itself a tell);
- the greedy-answer accuracy on forget items against the holdout's (chance: the model never
  learned those answers, so what it gets right there is guessing);
- the share of forget answers that stutter or loop (metrics/fluency.py): a model that never saw
  the forget set answers fluently and wrongly, so collapse is no parity, whatever the accuracy;
- the share of forget answers that are not well-formed (metrics/wellformed.py: word salad that
  does not loop), against the share of the original model's answers about strangers;
- how much of its original probability of the retain answers the model keeps: a model retrained
  without the forget set still knows everything else, so a run that bought its forgetting with
  the retain set is not at parity either.

A `ParityBand` says how close counts as "indistinguishable"; `parity_distance` is 1.0 on the
band's edge, below it inside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .privacy import mia_auc


@dataclass(frozen=True)
class ParityBand:
    auc_tolerance: float = 0.15  # |AUC - 0.5| at most this (RunConfig.parity_auc_tolerance)
    accuracy_tolerance: float = 0.05  # forget accuracy at most the holdout's plus this
    # at most this share of degenerate forget answers, and at most this much more of them not
    # well-formed than of the original model's answers about strangers
    fluency_tolerance: float = 0.1
    retain_tolerance: float = 0.05  # retain answer probability at most this share below the start
    # the share of forget answers giving the commonest answer at most the holdout's plus this
    same_answer_tolerance: float = 0.1
    # False when holdout answers are not phrased like forget answers (a pack's short answers
    # against the model's own sentences): their likelihoods do not compare, so only the
    # accuracies count.
    use_auc: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.auc_tolerance < 0.5:
            raise ValueError(f"auc_tolerance must be in (0, 0.5), got {self.auc_tolerance}")
        if not 0 < self.accuracy_tolerance < 1:
            raise ValueError(f"accuracy_tolerance must be in (0, 1), got {self.accuracy_tolerance}")
        if not 0 < self.fluency_tolerance < 1:
            raise ValueError(f"fluency_tolerance must be in (0, 1), got {self.fluency_tolerance}")
        if not 0 < self.retain_tolerance < 1:
            raise ValueError(f"retain_tolerance must be in (0, 1), got {self.retain_tolerance}")
        if not 0 < self.same_answer_tolerance < 1:
            raise ValueError(
                f"same_answer_tolerance must be in (0, 1), got {self.same_answer_tolerance}"
            )


def parity_measures(
    forget_scores,
    holdout_scores,
    forget_hits,
    holdout_hits,
    forget_degenerate: float = 0.0,
    retain_kept: float = 1.0,
    forget_same_answer: float = 0.0,
    holdout_same_answer: float = 0.0,
    forget_ill_formed: float = 0.0,
    holdout_ill_formed: float = 0.0,
) -> dict[str, float]:
    """The parity measures of one evaluation. Scores are per-item membership scores (higher =
    more familiar; mean token log-prob for LOSS), hits per-item right/wrong greedy answers,
    `forget_degenerate` the share of degenerate forget answers, `retain_kept` the retain answer
    probability now over the original model's, `forget_same_answer` and `holdout_same_answer`
    the share of each side's answers that give its commonest answer (fluency.same_answer_share;
    the holdout's from the original model), `forget_ill_formed` and `holdout_ill_formed` the
    share of each side's answers that are not well-formed (the holdout's from the original)."""
    forget_hits = np.asarray(forget_hits, dtype=float)
    holdout_hits = np.asarray(holdout_hits, dtype=float)
    if forget_hits.size == 0 or holdout_hits.size == 0:
        raise ValueError("parity needs at least one forget and one holdout answer")
    return {
        "parity_auc": mia_auc(forget_scores, holdout_scores),
        "forget_accuracy": float(forget_hits.mean()),
        "holdout_accuracy": float(holdout_hits.mean()),
        "forget_degenerate": float(forget_degenerate),
        "retain_kept": float(retain_kept),
        "forget_same_answer": float(forget_same_answer),
        "holdout_same_answer": float(holdout_same_answer),
        "forget_ill_formed": float(forget_ill_formed),
        "holdout_ill_formed": float(holdout_ill_formed),
    }


def parity_distance(measures: dict[str, float], band: ParityBand) -> float:
    """How far from parity, in units of the band: ≤ 1.0 inside it.

    Accuracy counts one way only: forget accuracy *below* the holdout's is the model guessing
    worse than chance on a few dozen items, which the AUC judges better; above it, the model
    still knows answers it should not. Fluency counts too: past `fluency_tolerance` degenerate
    answers the model is not at parity, it is broken; nor is it when it lost more than
    `retain_tolerance` of its retain answer probability, or when more of its forget answers give
    one same answer than its guesses about strangers do, by over `same_answer_tolerance`, or
    more of them are not well-formed than of its answers about strangers, by over
    `fluency_tolerance`."""
    return float(max(ratio for ratio, _ in _band_terms(measures, band)))


def reference_words(uses_auc: bool) -> tuple[str, str]:
    """What the forget answers are held against, in words: (the accuracy reference, whose
    answers the fluency references are). People of the invented world are held against
    strangers (chance); a topic pack's or own text's questions, judged without the AUC, against
    the original model's questions it never knew."""
    if uses_auc:
        return "chance", "about strangers"
    return "the never-learned level", "on never-learned questions"


def _band_terms(measures: dict[str, float], band: ParityBand) -> list[tuple[float, str]]:
    """Each of the band's rules as (how far the measures are along it, in units of its
    tolerance: 1.0 on the edge; what it says in words), one place for `parity_distance` and
    `outside_band`."""
    forget, chance = measures["forget_accuracy"], measures["holdout_accuracy"]
    loops = measures.get("forget_degenerate", 0.0)
    salad = measures.get("forget_ill_formed", 0.0)
    strangers = measures.get("holdout_ill_formed", 0.0)
    kept = measures.get("retain_kept", 1.0)
    alike = measures.get("forget_same_answer", 0.0)
    reference, others = reference_words(band.use_auc)
    terms = [
        (max(0.0, forget - chance) / band.accuracy_tolerance,
         f"forget accuracy {forget:.2f} vs {reference} {chance:.2f}"),
        (loops / band.fluency_tolerance, f"{loops:.0%} of forget answers loop"),
        (max(0.0, salad - strangers) / band.fluency_tolerance,
         f"{salad:.0%} of forget answers not well-formed ({others} {strangers:.0%})"),
        (max(0.0, 1.0 - kept) / band.retain_tolerance, f"retain probability kept {kept:.2f}"),
        (max(0.0, alike - measures.get("holdout_same_answer", 0.0)) / band.same_answer_tolerance,
         f"{alike:.0%} of forget answers alike"),
    ]  # fmt: skip
    if band.use_auc:
        auc = measures["parity_auc"]
        terms.insert(1, (abs(auc - 0.5) / band.auc_tolerance, f"membership AUC {auc:.2f}"))
    return terms


def overshot(measures: dict[str, float], band: ParityBand) -> bool:
    """Past parity: the forget items look less familiar than never-seen ones beyond the band."""
    return band.use_auc and measures["parity_auc"] < 0.5 - band.auc_tolerance


def final_measures(before: dict, after: dict, live: dict) -> dict[str, float]:
    """The parity measures of the final before/after measurement (its larger item sets), with
    the references only the live check measures (the original model's answers about strangers,
    from `live`, a live evaluation's measures: the parity summary's "closest")."""
    measures = {
        "forget_accuracy": after["forget_accuracy"],
        "holdout_accuracy": live["holdout_accuracy"],
        "forget_degenerate": after.get("forget_degenerate", 0.0),
        "forget_same_answer": after.get("forget_same_answer", 0.0),
        "holdout_same_answer": live.get("holdout_same_answer", 0.0),
        "forget_ill_formed": after.get("forget_ill_formed", 0.0),
        "holdout_ill_formed": live.get("holdout_ill_formed", 0.0),
    }
    if "mia_auc" in after:
        measures["parity_auc"] = after["mia_auc"]
    if before.get("retain_answer_prob") and "retain_answer_prob" in after:
        measures["retain_kept"] = after["retain_answer_prob"] / before["retain_answer_prob"]
    return {k: float(v) for k, v in measures.items()}


def outside_band(measures: dict[str, float], band: ParityBand) -> list[str]:
    """Each measure that puts `measures` outside the band, in words with its figures (empty
    inside it): what a drift from parity consists of."""
    return [words for ratio, words in _band_terms(measures, band) if ratio > 1.0]


def final_check(before: dict, after: dict, live: dict, band: ParityBand) -> dict:
    """Whether the kept state is at parity on the final measurement too: its measures, their
    distance to the band and, outside it, what is out (report["parity"]["final"])."""
    measures = final_measures(before, after, live)
    if "parity_auc" not in measures:  # no membership AUC measured: the accuracies decide
        band = replace(band, use_auc=False)
    distance = parity_distance(measures, band)
    return {
        "holds": distance <= 1.0,
        "distance": round(distance, 4),
        "outside": outside_band(measures, band),
        **measures,
    }


AT_PARITY = ("parity reached", "already at parity before unlearning")  # report stop reasons


def final_text(parity: dict) -> str:
    """Whether the live verdict holds on the final measurement's larger item sets: a run
    the live check called at parity that the final measurement finds outside the band drifted,
    and the page says by what ("" before the final measurement)."""
    final = parity.get("final")
    if not final:
        return ""
    at_parity = parity.get("stopped_because") in AT_PARITY
    if final["holds"]:
        return "; the final measurement agrees" if at_parity else "; final measurement in the band"
    outside = ", ".join(final.get("outside", [])) or f"distance {final['distance']:.2f}"
    if at_parity:
        return f"; but the final measurement drifted out of the band: {outside}"
    return f"; final measurement: {outside}"

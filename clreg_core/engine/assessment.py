"""The before/after assessment of a run (method.md, "Measuring what the paper claims").

The same fixed, seeded subsets of forget, retain and holdout items are measured with the adapter
off (before) and on (after). Where the model has a retrain-from-scratch gold twin, the gold model
is measured once on the same items for Forget Quality and PrivLeak.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from clreg_core.data.items import Item, UnlearningTask
from clreg_core.engine import measurement_cache
from clreg_core.engine.evaluation import (
    ForcedPass,
    Measurer,
    answer_scores,
    memorisation_scores,
    qa_only,
    sample_items,
    separation,
)
from clreg_core.engine.well_formed import WellFormedJudge
from clreg_core.metrics import (
    forget_quality,
    linear_probe_accuracy,
    membership_probe,
    mia_auc,
    min_k_percent_score,
    privleak,
    retain_feature_shift,
    silhouette,
    truth_ratio,
)
from clreg_core.metrics.fluency import degenerate_share, mean_distinct_n, same_answer_share

MAX_TRUTH_RATIO_FACTS = 100  # one truth ratio per distinct fact; 5 answers scored for each
GOLD_RETAIN = 8  # retain questions the gold model answers (for the probe table)


@dataclass
class Snapshot:
    """One measurement: its metrics, plus what later steps need (retain features for the retain
    shift, truth ratios for Forget Quality, greedy answers for the before/after table)."""

    metrics: dict
    retain_features: np.ndarray
    truth_ratios: np.ndarray | None = None
    answers: dict[str, list[str]] = field(default_factory=dict)  # side -> answers to qa_only(side)


class Assessment:
    def __init__(
        self,
        measurer: Measurer,
        task: UnlearningTask,
        feature_layer: int,
        items_per_side: int,
        seed: int,
    ):
        self.measurer = measurer
        self.feature_layer = feature_layer
        self.layers = list(range(measurer.num_layers))
        self.forget = sample_items(task.forget, items_per_side, seed)
        self.retain = sample_items(task.retain, items_per_side, seed + 1)
        self.holdout = sample_items(task.holdout, items_per_side, seed + 2)
        # Membership inference needs holdout answers phrased like the forget answers.
        self.membership_measurable = bool(self.holdout) and task.holdout_comparable
        self._encoded = {name: measurer.encode(items) for name, items in self._sets().items()}
        self._truth_sets = _truth_ratio_sets(qa_only(self.forget), MAX_TRUTH_RATIO_FACTS)
        self._truth_encoded = {k: measurer.encode(v) for k, v in self._truth_sets.items()}
        self.from_disk: list[str] = []  # measurements read from the disk cache, not made
        self.disk_cache = True  # whether frozen models' measurements may be read and kept on disk
        self.judge = WellFormedJudge(measurer)  # well-formed answers (its ceiling: the original's)

    def _sets(self) -> dict[str, list[Item]]:
        sets = {"forget": self.forget, "retain": self.retain}
        if self.holdout:
            sets["holdout"] = self.holdout
        return sets

    def measure(self, adapter: bool) -> Snapshot:
        m = self.measurer
        passes = {name: m.forced(enc, self.layers, adapter) for name, enc in self._encoded.items()}
        f, r = passes["forget"], passes["retain"]
        metrics: dict = {}
        answers: dict[str, list[str]] = {}
        for side in ("forget", "retain"):
            items = qa_only(self._sets()[side])
            answers[side] = m.answers(items, adapter) if items else []
            scores = answer_scores(items, answers[side]) if items else {}
            metrics.update({f"{side}_{k}": v for k, v in scores.items()})
            metrics.update({f"{side}_{k}": v for k, v in fluency(answers[side]).items()})
            memo = memorisation_scores(passes[side])
            metrics.update({f"{side}_{k}": v for k, v in memo.items()})
        metrics.update(self._well_formedness(answers, original=not adapter))
        metrics.update(self._representations(passes, self.feature_layer))
        if self.membership_measurable:
            metrics.update(membership(f, passes["holdout"]))
        truth = _truth_ratios(m, self._truth_encoded, adapter)
        if truth is not None:
            metrics["truth_ratio"] = float(np.median(truth))
        zr = r.features[self.feature_layer]
        return Snapshot(metrics=metrics, retain_features=zr, truth_ratios=truth, answers=answers)

    def _questions(self) -> dict[str, list[Item]]:
        return {side: qa_only(self._sets()[side]) for side in ("forget", "retain")}

    def _well_formedness(self, answers: dict[str, list[str]], original: bool) -> dict:
        """The share of each side's answers that are not well-formed; measuring the original
        model, the free-text loss ceiling is set from its own answers first (and kept in the
        metrics, so a snapshot read from disk sets it again: `measure_original`)."""
        questions = self._questions()
        metrics: dict = {}
        if original:
            both = questions["forget"] + questions["retain"]
            ceiling = self.judge.calibrate(both, answers["forget"] + answers["retain"])
            if ceiling is not None:
                metrics["answer_loss_ceiling"] = ceiling
        for side, items in questions.items():
            if items:
                metrics[f"{side}_ill_formed"] = self.judge.ill_formed_share(items, answers[side])
        return metrics

    def _representations(self, passes: dict[str, ForcedPass], feature_layer: int) -> dict:
        """The representation metrics of one model's passes (every block's features): forget vs
        retain at the feature layer and at every block, and representation membership (forget
        vs holdout, by person) where membership is measurable."""
        f, r = passes["forget"], passes["retain"]
        layers = sorted(f.features)
        zf, zr = f.features[feature_layer], r.features[feature_layer]
        metrics = dict(separation(zf, zr))
        metrics["linear_probe"] = linear_probe_accuracy(zf, zr)
        metrics["silhouette"] = silhouette(zf, zr)
        metrics["entanglement_by_layer"] = [
            float(separation(f.features[layer], r.features[layer])["entanglement"])
            for layer in layers
        ]
        if self.membership_measurable:
            metrics.update(self._membership_probes(f, passes["holdout"], feature_layer, layers))
        return metrics

    def _membership_probes(self, forget, holdout, feature_layer: int, layers: list[int]) -> dict:
        """Representation membership at every block; nothing where either side has fewer than
        two people (the probe is cross-validated by person)."""
        groups = [_group(i, n) for n, i in enumerate(self.forget)]
        holdout_groups = [_group(i, n) for n, i in enumerate(self.holdout)]
        try:
            by_layer = [
                membership_probe(
                    forget.features[layer], holdout.features[layer], groups, holdout_groups
                )
                for layer in layers
            ]
        except ValueError:  # too few people on a side
            return {}
        return {
            "membership_probe": by_layer[layers.index(feature_layer)],
            "membership_probe_by_layer": by_layer,
        }

    def measure_original(self, model_id: str) -> Snapshot:
        """The original model's snapshot (adapter off). It depends only on the base weights and
        the items, so it is kept for the life of the process: an A/B pair, a second run in the
        app or a benchmark grid measures it once. `model_id` names the base weights."""
        key = self._original_key(model_id)
        if key not in _ORIGINAL_CACHE:
            _ORIGINAL_CACHE[key] = self._from_disk("original", key, lambda: self.measure(False))
            while len(_ORIGINAL_CACHE) > MAX_CACHED_ORIGINALS:
                _ORIGINAL_CACHE.pop(next(iter(_ORIGINAL_CACHE)))
        snapshot = copy.deepcopy(_ORIGINAL_CACHE[key])  # callers add metrics to their copy
        self.judge.ceiling = snapshot.metrics.get("answer_loss_ceiling", self.judge.ceiling)
        return snapshot

    def _original_key(self, model_id: str) -> tuple:
        return (
            model_id,
            self.feature_layer,
            self.measurer.max_length,
            tuple((i.question, i.answer, i.text) for i in self.forget + self.retain + self.holdout),
        )

    def original_is_kept(self, model_id: str) -> bool:
        """Whether `measure_original` will read its snapshot (this process's or the disk's)
        rather than measure: a page then waits a moment, not a measurement's time."""
        key = self._original_key(model_id)
        return key in _ORIGINAL_CACHE or (
            self.disk_cache and measurement_cache.is_stored("original", key)
        )

    def _from_disk(self, kind: str, key, measure: Callable[[], Any]):
        """A measurement of a frozen model from the disk cache, else measured and stored there
        (engine/measurement_cache.py); `from_disk` names those read back, for the report."""
        if not self.disk_cache:
            return measure()
        found = measurement_cache.load(kind, key)
        if found is not None:
            self.from_disk.append(kind)
            return found
        value = measure()
        measurement_cache.store(kind, key, value)
        return value

    def compare(self, before: Snapshot, after: Snapshot) -> None:
        """Metrics that need both snapshots, added to `after`."""
        after.metrics["retain_feature_shift"] = retain_feature_shift(
            before.retain_features, after.retain_features
        )
        before.metrics["retain_feature_shift"] = 0.0

    def against_gold(
        self,
        gold_name: str,
        load_gold: Callable[[], Measurer],
        snapshots: dict[str, Snapshot],
        on_disk: bool = False,
    ) -> tuple[dict, dict[str, list[str]]]:
        """Forget Quality and PrivLeak of each snapshot relative to the gold model, and the gold
        model's own metrics and greedy answers (side -> answers to qa_only(side)), the target an
        unlearned model should look like; `load_gold` is called only when this gold model has
        not measured these items yet. `on_disk`: `gold_name` pins the gold weights (a folder
        fingerprint), so its measurement may be kept on disk for later processes."""
        key = (
            gold_name,
            self.measurer.max_length,
            tuple((i.question, i.answer, i.text) for i in self.forget),
            tuple(i.question for i in self.retain),
            tuple((i.question, i.answer, i.text) for i in self.holdout),
        )
        if key not in _GOLD_CACHE:
            measure = lambda: self._measure_gold(load_gold())  # noqa: E731
            _GOLD_CACHE[key] = self._from_disk("gold", key, measure) if on_disk else measure()
        gold, gold_truth, gold_answers = _GOLD_CACHE[key]
        for snap in snapshots.values():
            if gold_truth is not None and snap.truth_ratios is not None:
                snap.metrics["forget_quality"] = forget_quality(snap.truth_ratios, gold_truth)
            if "mia_auc" in gold and "mia_auc" in snap.metrics:
                snap.metrics["privleak"] = privleak(snap.metrics["mia_auc"], gold["mia_auc"])
        return copy.deepcopy(gold), copy.deepcopy(gold_answers)

    def _gold_layer(self, gold_blocks: int) -> int:
        """The gold model's block at the feature layer's depth: the same index, counted from the
        end (a gold twin normally has the same blocks; this keeps "the last" the last)."""
        from_end = self.feature_layer - len(self.layers)
        return max(0, gold_blocks + from_end)

    def _measure_gold(self, gold_measurer: Measurer):
        gold: dict = {}
        answers: dict[str, list[str]] = {}
        # The gold model trained on the retain set, so its retain answers say little; a few
        # give the probe table its column, the forget side is measured in full.
        sides = {"forget": qa_only(self.forget), "retain": qa_only(self.retain)[:GOLD_RETAIN]}
        for side, questions in sides.items():
            if not questions:
                continue
            answers[side] = gold_measurer.answers(questions, adapter=False)
            if side == "forget":
                gold.update(
                    {f"forget_{k}": v for k, v in answer_scores(questions, answers[side]).items()}
                )
                gold.update({f"forget_{k}": v for k, v in fluency(answers[side]).items()})
                # judged as the unlearned model's are: by the original model's ceiling
                gold["forget_ill_formed"] = self.judge.ill_formed_share(questions, answers[side])
        # One teacher-forced pass over the forget items (membership needs it anyway) gives the
        # gold model's memorisation scores too. No retain accuracy: GOLD_RETAIN questions are too
        # few to set beside the before/after one (docs/report.md).
        # It also gives every block's features: the gold model's representation metrics are the
        # reference for the unlearned model's (a model that never saw the forget people still
        # tells them from known ones; method.md, "Representations against the gold model").
        layers = list(range(gold_measurer.num_layers))
        passes = {
            side: gold_measurer.forced(gold_measurer.encode(items), layers, adapter=False)
            for side, items in self._sets().items()
        }
        forget = passes["forget"]
        gold.update({f"forget_{k}": v for k, v in memorisation_scores(forget).items()})
        if self.membership_measurable:
            gold.update(membership(forget, passes["holdout"]))
        gold.update(self._representations(passes, self._gold_layer(gold_measurer.num_layers)))
        # The gold model has its own tokenizer, so the truth-ratio answers are encoded anew.
        encoded = {k: gold_measurer.encode(v) for k, v in self._truth_sets.items()}
        truth = _truth_ratios(gold_measurer, encoded, adapter=False)
        if truth is not None:
            gold["truth_ratio"] = float(np.median(truth))
        return gold, truth, answers


# Original-model snapshots by model and item set (see Assessment.measure_original); the oldest
# goes first once there are more than MAX_CACHED_ORIGINALS.
MAX_CACHED_ORIGINALS = 16
_ORIGINAL_CACHE: dict[tuple, Snapshot] = {}

# Gold-model results for an item set, kept for the life of the process: the gold model and the
# seeded items do not change between runs, so an app serving many runs measures gold once.
_GOLD_CACHE: dict[tuple, tuple[dict, np.ndarray | None, dict[str, list[str]]]] = {}


def _group(item: Item, index: int) -> str:
    """The person (or topic) an item is about; an item without one is a group of its own."""
    return item.group or f"item:{index}"


def fluency(answers: list[str]) -> dict[str, float]:
    """Do the answers still read as language? (metrics/fluency.py)"""
    if not answers:
        return {}
    return {
        "degenerate": degenerate_share(answers),
        "distinct_2": mean_distinct_n(answers, 2),
        "same_answer": same_answer_share(answers),
    }


def truth_ratios_of(measurer: Measurer, items: list[Item], adapter: bool) -> np.ndarray | None:
    """TOFU truth ratios of these QA items (one per distinct fact), for one model."""
    sets = _truth_ratio_sets(items, MAX_TRUTH_RATIO_FACTS)
    return _truth_ratios(measurer, {k: measurer.encode(v) for k, v in sets.items()}, adapter)


def _truth_ratios(measurer: Measurer, encoded: dict, adapter: bool) -> np.ndarray | None:
    """TOFU truth ratios of the forget items that carry paraphrased and perturbed answers."""
    if not encoded:
        return None
    forced = {k: measurer.forced(v, [], adapter) for k, v in encoded.items()}
    paraphrased = forced["paraphrased"].mean_token_logp
    per_item = len(forced) - 1
    perturbed = np.stack([forced[f"perturbed{i}"].mean_token_logp for i in range(per_item)], 1)
    return truth_ratio(paraphrased, list(perturbed))


def membership(forget: ForcedPass, holdout: ForcedPass) -> dict[str, float]:
    """LOSS and Min-K% membership-inference AUC, forget items as members (0.5 = no signal)."""
    min_k_f = [min_k_percent_score(t) for t in forget.token_logprobs]
    min_k_h = [min_k_percent_score(t) for t in holdout.token_logprobs]
    return {
        "mia_auc": mia_auc(forget.mean_token_logp, holdout.mean_token_logp),
        "mia_auc_min_k": mia_auc(np.array(min_k_f), np.array(min_k_h)),
    }


def _truth_ratio_sets(items: list[Item], max_facts: int) -> dict[str, list[Item]]:
    """The forget items re-answered with their paraphrase and each perturbed answer, one item
    per distinct fact (the phrasings of a question share their answers)."""
    distinct = {
        i.paraphrased_answer: i for i in items if i.paraphrased_answer and i.perturbed_answers
    }
    usable = list(distinct.values())[:max_facts]
    if not usable:
        return {}
    count = min(len(i.perturbed_answers) for i in usable)
    sets = {"paraphrased": [replace(i, answer=i.paraphrased_answer) for i in usable]}
    for k in range(count):
        sets[f"perturbed{k}"] = [replace(i, answer=i.perturbed_answers[k]) for i in usable]
    return sets

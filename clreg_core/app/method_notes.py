"""What a base method at its defaults was measured to do on each offline model, said in the page
when the method is picked (BENCHMARKS.md "Every method at its defaults").

Each finding is a measured cell of benchmarks/method_defaults.py: 3 seeds on a split nobody
tuned on (world:untuned15) and on forget10, judged on the final measurement: parity held,
retain accuracy kept, forget answers well-formed. On SmolLM2-135M (minutes a run on a 2-core
CPU) each cell is a few runs: seed 0 on the chemical-elements pack, and where that looked
promising a second seed and a held-out pack. A method and model not measured says so.
"""

from __future__ import annotations

from clreg_core.app.ui_choices import METHOD_CHOICES

NAMES = {key: label for label, key in METHOD_CHOICES}

# (model, method, CLReg on) -> what its defaults did, in a sentence with the measured figures
# (benchmarks/results/method_defaults.json; "held out": world:untuned15, 15 people no setting
# was tuned on, and forget10; "all": parity reached and held by the final measurement, retain
# accuracy at least 0.95, forget answers well-formed).
HELD = "parity reached and held, retain kept and fluent answers in"
FINDINGS: dict[tuple[str, str, bool], str] = {
    ("embedded", "npo", False): f"{HELD} 2 of 3 seeds on held-out people and 3 of 3 on "
    "forget10 (retain accuracy 0.97); it stops at 40-50 steps.",
    ("embedded", "npo", True): f"{HELD} 2 of 3 seeds on held-out people and 3 of 3 on "
    "forget10 (retain accuracy 0.98-1.00); it stops at 40-60 steps.",
    ("embedded", "graddiff", False): f"{HELD} 2 of 3 seeds on held-out people and 3 of 3 on "
    "forget10 (retain accuracy 0.99); its own settings (learning rate 1e-3, retain weight 3, "
    "guess weight 2) train 80-100 steps. At NPO's it kept only 0.80-0.83 of its retain answers.",
    ("embedded", "graddiff", True): f"{HELD} 3 of 3 seeds on held-out people and 3 of 3 on "
    "forget10 (retain accuracy 0.99), at its own settings (learning rate 1.5e-3, retain "
    "weight 3, guess weight 3), 70-80 steps.",
    ("embedded", "simnpo", False): f"{HELD} 2 of 3 seeds on held-out people and 2 of 3 on "
    "forget10 (retain accuracy 0.97-0.98), at its own settings (learning rate 6e-3, β 1.5); "
    "one run of three reached its 200-step ceiling without parity.",
    ("embedded", "simnpo", True): "it does not reliably reach parity on this model: 1 of 3 "
    "seeds on held-out people and 1 of 3 on forget10, at SimNPO's settings. Its membership AUC "
    "goes past the band before forget accuracy comes down (0.13 at the end vs the gold "
    "model's 0.06 on forget10), or its answers garble (17% not well-formed vs 7% about "
    "strangers). Nothing tried did better (BENCHMARKS.md).",
    ("embedded", "rmu", False): "it does not reliably reach parity on this model: 1 of 3 seeds "
    "on held-out people, 0 of 3 on forget10, at its own settings (retain weight 5, 200-step "
    "ceiling). Its answers stay fluent (1-7% not well-formed, as about strangers), but forget "
    "accuracy ends above chance (0.12-0.17 vs 0.05-0.09 in the failing seeds) or retain "
    "accuracy dips below 0.95.",
    ("embedded", "rmu", True): "it does not reliably reach parity on this model: 2 of 3 seeds "
    "on held-out people, 0 of 3 on forget10, at RMU's settings (retain weight 5, 200-step "
    "ceiling). Its answers stay fluent, but forget accuracy ends above the gold model's (0.09-0.13 "
    "vs 0.05-0.08 on forget10) or retain accuracy dips below 0.95 (0.87-0.93).",
    # SmolLM2-135M: tuned on pack:chemical_elements, one seed held out on pack:space_exploration
    # (benchmarks/results/method_defaults_smollm2.jsonl; each run is minutes on a 2-core CPU)
    ("smollm2-135m", "npo", False): "on the chemical-elements pack not measured alone; held "
    "out (space exploration, seed 0) it did not reach parity by its 80-step ceiling: forget "
    "accuracy 0.05 against a never-learned level of 0.00, 16% of its answers loop "
    '("The NASA 2023 2023 2023"), retain kept 0.92 of before.',
    ("smollm2-135m", "npo", True): "parity reached and held, retain kept and fluent answers "
    "in 2 of 3 seeds on chemical elements (retain kept 0.93-0.95 of before); the third "
    "stopped at its ceiling with 29% of its answers looping. Held out (space exploration, seed "
    "0) it forgot every answer and kept retain, but did not reach parity: 16% of its answers "
    "loop, against 6% on questions it never knew.",
    ("smollm2-135m", "graddiff", False): "at its own settings (learning rate 5e-4, guess weight "
    "2) parity held with retain kept 0.92 of before and fluent answers in 1 of 2 seeds on "
    "chemical elements; the other seed gave one same element to 35% of its questions. Held "
    "out (space exploration, seed 0) it stopped short: forget accuracy 0.16 vs 0.00, "
    "retain kept 0.83. At NPO's rate it kept 0.83 and 30% of its answers were not well-formed.",
    ("smollm2-135m", "graddiff", True): "it did not reach parity on chemical elements (seed 0) "
    "at GradDiff's settings: retain kept 0.88 of before, forget accuracy 0.05 vs 0.03; at NPO's "
    "rate 0.83, with 40% of its answers not well-formed.",
    ("smollm2-135m", "simnpo", False): "it did not reach parity on chemical elements (seed "
    "0) in the settings tried: at NPO's it stays fluent and keeps 0.96 of its retain answers "
    "but ends at forget accuracy 0.05 vs 0.03 at its 80-step ceiling; with a 150-step ceiling "
    "the final measurement is at the level (0.00, retain 0.92), but the live check never "
    "called parity; twice the rate is worse (0.15).",
    ("smollm2-135m", "simnpo", True): "it did not reach parity on chemical elements (seed 0): "
    "its answers loop (80% at NPO's rate, 30% at half of it, vs 3% on questions it never "
    "knew).",
    ("smollm2-135m", "rmu", False): "it did not reach parity on chemical elements (seed 0): "
    "at the model's settings it kept 0.75 of its retain answers and 55% of its forget answers "
    "were not well-formed; steering 3 with retain weight 30 kept 0.92, but 40% still not "
    'well-formed ("… is proposed to bePAA.").',
    ("smollm2-135m", "rmu", True): "it did not reach parity on chemical elements (seed 0): "
    "retain kept 0.79 of before, 25% of its forget answers not well-formed.",
}


def method_note(model: str, method: str, clreg: bool) -> str:
    """One line under the method picker: what its defaults on this model were measured to do."""
    name = NAMES.get(method, method) + (" + CLReg" if clreg else "")
    found = FINDINGS.get((model, method, bool(clreg)))
    if found:
        return f"**{name}** at its defaults on this model: {found}"
    return (
        f"**{name}** on this model: not measured at its defaults (BENCHMARKS.md, 'Every method "
        "at its defaults'); parity, retain and fluency are judged as the run goes."
    )

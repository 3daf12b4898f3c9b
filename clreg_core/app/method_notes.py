"""What a base method at its defaults was measured to do on each offline model, said in the page
when the method is picked (BENCHMARKS.md "Every method at its defaults").

Each finding is a measured cell of benchmarks/method_defaults.py: 3 seeds on a split nobody
tuned on (world:untuned15) and on forget10, judged on the final measurement: parity held,
retain accuracy kept, forget answers well-formed. A method and model not measured (every
method on SmolLM2-135M, so far) says so.
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

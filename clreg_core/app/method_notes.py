"""What a base method at its defaults was measured to do on each offline model, said in the page
when the method is picked (BENCHMARKS.md "Every method at its defaults").

Each finding is a measured cell of benchmarks/method_defaults.py: 3 seeds on a split nobody
tuned on (world:untuned15) and on forget10, judged on the final measurement: parity held,
retain accuracy kept, forget answers well-formed. A method and model not measured says so.
"""

from __future__ import annotations

from clreg_core.app.ui_choices import METHOD_CHOICES

NAMES = {key: label for label, key in METHOD_CHOICES}

# (model, method, CLReg on) -> what its defaults did, in a sentence with the measured figures.
FINDINGS: dict[tuple[str, str, bool], str] = {}


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

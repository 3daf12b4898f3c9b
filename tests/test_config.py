"""The run config: JSON round trip, and one clear error type for every impossible value."""

import pytest

from clreg_core.config import MODEL_DEFAULTS, ConfigError, RunConfig, default_config
from clreg_core.errors import UserInputError


def test_round_trip_through_json():
    config = RunConfig(
        method="simnpo",
        clreg_weight=0.5,
        target_modules=("q_proj", "v_proj"),
        lora_dropout=0.1,
        positives="dropout_view",
    )
    assert RunConfig.from_json(config.to_json()) == config


def test_integers_in_json_come_back_as_floats_where_floats_are_expected():
    config = RunConfig.from_dict({"clreg_weight": 1, "learning_rate": 1})
    assert isinstance(config.clreg_weight, float) and config.learning_rate == 1.0


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"method": "magic"}, "method"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"temperature": 0.0}, "temperature"),
        ({"lora_rank": "eight"}, "lora_rank"),
        ({"lora_dropout": 0.95}, "lora_dropout"),
        ({"positives": "dropout_view"}, "dropout_view"),
        ({"device": "tpu"}, "device"),
        ({"model": " "}, "model"),
        ({"clreg_weight": True}, "clreg_weight"),
        ({"max_length": 2}, "max_length"),
        ({"retain_loss": "kld"}, "retain_loss"),
        ({"lr_schedule": "cosine"}, "lr_schedule"),
        ({"activation_checkpointing": True}, "activation_checkpointing"),
    ],
)
def test_invalid_values_name_the_field_and_value(changes, field):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**changes)


def test_config_error_is_a_user_error_and_unknown_fields_are_named():
    with pytest.raises(UserInputError, match="colour"):
        RunConfig.from_dict({"colour": "blue"})
    with pytest.raises(ConfigError, match="JSON"):
        RunConfig.from_json("{not json")


def test_model_defaults():
    assert default_config().model == "embedded" and default_config().clreg
    smol = default_config("smollm2-135m")
    assert smol.task.startswith("pack:") and smol.steps < default_config().steps
    assert default_config("Qwen/Qwen2.5-0.5B-Instruct", steps=5).steps == 5


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"stop_at": "loss"}, "stop_at"),
        ({"stop_at": "Parity"}, "stop_at"),
        ({"stop_at": ""}, "stop_at"),
        ({"parity_auc_tolerance": 0.0}, "parity_auc_tolerance"),
        ({"parity_auc_tolerance": 0.005}, "parity_auc_tolerance"),
        ({"parity_auc_tolerance": 0.46}, "parity_auc_tolerance"),
        ({"parity_auc_tolerance": 0.5}, "parity_auc_tolerance"),
        ({"parity_auc_tolerance": float("nan")}, "parity_auc_tolerance"),
        ({"parity_auc_tolerance": "0.1"}, "parity_auc_tolerance"),
        ({"parity_accuracy_tolerance": 0.0}, "parity_accuracy_tolerance"),
        ({"parity_accuracy_tolerance": 0.0009}, "parity_accuracy_tolerance"),
        ({"parity_accuracy_tolerance": -0.05}, "parity_accuracy_tolerance"),
        ({"parity_accuracy_tolerance": 0.95}, "parity_accuracy_tolerance"),
        ({"parity_accuracy_tolerance": 1.0}, "parity_accuracy_tolerance"),
        ({"parity_fluency_tolerance": 0.0}, "parity_fluency_tolerance"),
        ({"parity_retain_tolerance": 0.0}, "parity_retain_tolerance"),
        ({"parity_retain_tolerance": 1.0}, "parity_retain_tolerance"),
        ({"items_per_group": 0}, "items_per_group"),
        ({"items_per_group": -2}, "items_per_group"),
        ({"items_per_group": 2.5}, "items_per_group"),
        ({"items_per_group": 4.0}, "items_per_group"),
        ({"items_per_group": True}, "items_per_group"),
        ({"items_per_group": "4"}, "items_per_group"),
    ],
)
def test_invalid_stop_rule_tolerances_and_group_sizes_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**changes)


def test_stop_rule_tolerances_and_group_sizes_accept_their_limits():
    assert RunConfig(stop_at="steps").stop_at == "steps"
    assert RunConfig().stop_at == "parity"
    low = RunConfig(parity_auc_tolerance=0.01, parity_accuracy_tolerance=0.001, items_per_group=1)
    high = RunConfig(parity_auc_tolerance=0.45, parity_accuracy_tolerance=0.9)
    assert (low.parity_auc_tolerance, low.parity_accuracy_tolerance) == (0.01, 0.001)
    assert low.items_per_group == 1
    assert (high.parity_auc_tolerance, high.parity_accuracy_tolerance) == (0.45, 0.9)
    assert default_config("embedded", stop_at="steps").stop_at == "steps"


def test_new_fields_round_trip_through_json():
    config = RunConfig(
        stop_at="steps",
        parity_auc_tolerance=0.2,
        parity_accuracy_tolerance=0.1,
        items_per_group=2,
        group_negatives=False,
        forget_eos=True,
        forget_span="new_words",
        feature_span="value",
    )
    text = config.to_json()
    assert '"group_negatives": false' in text and '"forget_eos": true' in text
    again = RunConfig.from_json(text)
    assert again == config
    assert again.group_negatives is False and again.forget_eos is True
    assert again.stop_at == "steps" and again.items_per_group == 2
    # the defaults, the other way round, come back too
    default = RunConfig()
    assert default.group_negatives is True and default.forget_eos is False
    assert RunConfig.from_json(default.to_json()) == default


def test_new_fields_are_checked_when_read_from_json():
    with pytest.raises(ConfigError, match="stop_at"):
        RunConfig.from_json('{"stop_at": "never"}')
    with pytest.raises(ConfigError, match="forget_span"):
        RunConfig.from_json('{"forget_span": "tokens"}')
    with pytest.raises(ConfigError, match="feature_span"):
        RunConfig.from_json('{"feature_span": "question"}')
    with pytest.raises(ConfigError, match="items_per_group"):
        RunConfig.from_json('{"items_per_group": 4.0}')  # JSON's 4.0 is not a whole number here
    with pytest.raises(ConfigError, match="parity_auc_tolerance"):
        RunConfig.from_json('{"parity_auc_tolerance": 1}')


def test_the_learning_rate_warms_up_then_decays_or_holds():
    from clreg_core.engine.training import lr_factor

    linear = RunConfig(steps=20, warmup_steps=4)
    constant = linear.with_changes(lr_schedule="constant")
    for config in (linear, constant):  # the same warmup
        assert [lr_factor(config, s) for s in range(4)] == [0.2, 0.4, 0.6, 0.8]
    assert lr_factor(linear, 4) == 1.0 and lr_factor(linear, 12) == 0.5
    assert lr_factor(linear, 20) == 0.0
    assert all(lr_factor(constant, s) == 1.0 for s in range(4, 40))


def test_a_method_gets_its_own_defaults_under_the_callers_settings():
    from clreg_core.app.run_export import cli_command
    from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults
    from clreg_core.cli import build_parser, config_from_args
    from clreg_core.config import METHOD_DEFAULTS, method_defaults

    chosen = METHOD_DEFAULTS["embedded"]
    assert set(chosen) >= {"graddiff", "simnpo"}  # measured: BENCHMARKS.md
    for method, settings in chosen.items():
        base, clreg = method.split("+")[0], method.endswith("+clreg")
        config = default_config("embedded", method=base, clreg=clreg)
        for name, value in method_defaults("embedded", base, clreg).items():
            assert getattr(config, name) == value, (method, name)
        for name, value in settings.items():
            assert getattr(config, name) == value
        # the caller's own setting wins, and NPO keeps the model's defaults
        assert default_config("embedded", method=base, learning_rate=0.0123).learning_rate == 0.0123
        # the advanced panel follows the method, and a run's reproduce command gives it back
        panel = dict(zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults(
            "embedded", base, clreg), strict=True))  # fmt: skip
        assert panel["learning_rate"] == config.learning_rate
        command = cli_command(config, "runs/x")
        args = build_parser().parse_args(command.split()[3:])
        assert config_from_args(args) == config
    npo = default_config("embedded")
    assert npo.learning_rate == MODEL_DEFAULTS["embedded"]["learning_rate"]
    # SmolLM2 has its own GradDiff setting (CLReg on too); a method not tuned there has none
    assert method_defaults("smollm2-135m", "graddiff", True)["learning_rate"] == 5e-4
    assert method_defaults("smollm2-135m", "simnpo", False) == {}
    assert default_config("smollm2-135m", method="graddiff").retain_loss == "kl"  # the model's

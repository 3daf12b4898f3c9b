"""The run config: JSON round trip, and one clear error type for every impossible value."""

import pytest

from clreg_core.config import ConfigError, RunConfig, default_config
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

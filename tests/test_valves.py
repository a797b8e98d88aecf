"""Valves keep v0.1.2's saved values and refuse bad ones with the valve's name."""

import pydantic
import pytest

from openai_manifold_pipe.valves import UserValves, Valves


def test_values_saved_by_v0_1_2_load_unchanged():
    saved = {"OPENAI_API_KEY": "sk-x", "OPENAI_API_BASE_URL": "https://api.openai.com/v1/",
             "NAME_PREFIX": "GPT/"}
    valves = Valves(**saved)
    assert valves.model_dump(include=set(saved)) == saved
    assert UserValves(**{"OPENAI_API_KEY": "sk-user"}).OPENAI_API_KEY == "sk-user"


def test_numbers_from_the_form_are_coerced():
    assert Valves(MODEL_CACHE_TTL="7", MAX_RETRIES="3").MAX_RETRIES == 3


@pytest.mark.parametrize(
    "name,value",
    [("OPENAI_API_BASE_URL", "api.openai.com/v1"), ("OPENAI_API_BASE_URL", "ftp://x/v1"),
     ("MODEL_CACHE_TTL", -1), ("REQUEST_TIMEOUT", -5), ("REQUEST_TIMEOUT", 0),
     ("MAX_RETRIES", 11), ("MAX_RETRIES", -1), ("REASONING_EFFORT", "max"),
     ("MODEL_PRICES", "gpt-4o=cheap"), ("AZURE_API_VERSION", "yesterday")],
)
def test_bad_values_are_refused_naming_the_valve(name, value):
    with pytest.raises(pydantic.ValidationError) as error:
        Valves(**{name: value})
    assert name in str(error.value)


def test_key_fields_are_masked_in_the_form():
    for model in (Valves, UserValves):
        schema = model.model_json_schema()["properties"]["OPENAI_API_KEY"]
        assert schema["input"] == {"type": "password"}


def test_forms_show_the_valve_names():
    for model in (Valves, UserValves):
        for name, spec in model.model_json_schema()["properties"].items():
            assert spec["title"] == name

"""Valves keep v0.1.2's saved values and refuse bad ones with the valve's name."""

import sys
import types

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


@pytest.mark.parametrize("version, masked", [("0.6.43", False), ("0.7.2", False),
                                             ("0.8.0", True), ("0.12.4", True)])
def test_hosts_before_0_8_get_a_box_they_can_type_in(monkeypatch, version, masked):
    """Open WebUI 0.6 and 0.7 draw no input at all for a password field."""
    monkeypatch.setitem(sys.modules, "open_webui.env", types.SimpleNamespace(VERSION=version))
    for model in (Valves, UserValves):
        schema = model.model_json_schema()["properties"]["OPENAI_API_KEY"]
        assert ("input" in schema) is masked


def test_forms_show_the_valve_names():
    for model in (Valves, UserValves):
        for name, spec in model.model_json_schema()["properties"].items():
            assert spec["title"] == name

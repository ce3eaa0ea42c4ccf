from __future__ import annotations

import pytest

from chattui.sampling import GenerationOptions, Sampling, check_sampling


def test_layers_resolve_in_order() -> None:
    catalog = Sampling(temperature=0.2, top_p=0.9)
    config = Sampling(temperature=0.5, seed=3)
    cli = Sampling(top_p=0.5)
    options = cli.over(config.over(catalog)).resolve()
    assert options == GenerationOptions(temperature=0.5, top_p=0.5, seed=3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -1),
        ("top_p", 1.5),
        ("top_k", 1.5),
        ("seed", -2),
        ("max_tokens", 0),
        ("min_p", True),
        ("repeat_penalty", "1"),
    ],
)
def test_rejects(name: str, value: object) -> None:
    with pytest.raises(ValueError, match="from"):
        check_sampling(name, value)


def test_converts() -> None:
    assert check_sampling("temperature", 1) == 1.0
    assert isinstance(check_sampling("top_k", 4.0), int)

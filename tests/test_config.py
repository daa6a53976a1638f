import pytest

from tunesmith.api import resolve_config
from tunesmith.cli import _overrides, build_parser
from tunesmith.errors import TunesmithError


def test_flags_override_config_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "model: some/model\ntrain:\n  learning_rate: 5.0e-5\n  epochs: 2\ndata:\n  path: x.csv\n"
    )
    args = build_parser().parse_args(
        ["train", "--config", str(config), "--train.learning_rate", "3e-5"]
    )
    cfg = resolve_config(args.data, config=args.config, overrides=_overrides(args))
    assert cfg.train.learning_rate == 3e-5  # flag wins
    assert cfg.train.epochs == 2  # file wins over the default
    assert cfg.model == "some/model"
    assert cfg.data.path == "x.csv"
    assert cfg.train.batch_size is None  # default: chosen by the data (16 or 32)


def test_all_problems_reported_at_once():
    with pytest.raises(TunesmithError) as err:
        resolve_config(
            "x.csv",
            overrides={
                "train": {"learning_rate": "-1", "epochs": "many"},
                "data": {"colour": "blue"},
            },
        )
    message = err.value.message
    assert "--train.learning_rate" in message and "(got '-1')" in message
    assert "--train.epochs" in message
    assert "--data.colour: unknown setting" in message


@pytest.mark.parametrize(
    "value,ok",
    [
        ("none", True),
        ("embeddings", True),
        ("2", True),
        ("head", True),
        ("bottom", False),
        ("-1", False),
    ],
)
def test_freeze_values(value, ok):
    if ok:
        assert resolve_config("x.csv", overrides={"train": {"freeze": value}}).train.freeze == value
    else:
        with pytest.raises(TunesmithError, match="--train.freeze"):
            resolve_config("x.csv", overrides={"train": {"freeze": value}})


def test_bad_yaml_names_the_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  epochs: [1\n")
    with pytest.raises(TunesmithError, match=r"bad.yaml, line \d"):
        resolve_config(None, config=config)


def test_shipped_example_config_is_valid():
    from pathlib import Path

    example = Path(__file__).parents[1] / "examples" / "text-classification.yaml"
    cfg = resolve_config(None, config=example)
    assert cfg.task == "text-classification"
    assert cfg.data.path

"""Classes: names from every labelled source, counts, proportional labels and `--class` parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURE_DATA, assert_one_line_error
from ganctl.classes import (
    FASHION_MNIST,
    class_names,
    conditional_classes,
    model_classes,
    parse_classes,
    proportional_labels,
)
from ganctl.config import TrainConfig
from ganctl.data import load_dataset
from ganctl.errors import UsageError
from ganctl.training.loop import plan_training

DIGITS = tuple(str(d) for d in range(10))


# --- names and counts from the three labelled sources ----------------------------------------------

def test_idx_fixture_gets_fashion_names_and_counts():
    ds = load_dataset(str(FIXTURE_DATA))
    names, counts = conditional_classes(str(FIXTURE_DATA), ds.y, ds.label_names)
    assert names == FASHION_MNIST and names[7] == "Sneaker"
    assert counts == tuple(int((ds.y == c).sum()) for c in range(10))
    assert sum(counts) == len(ds.x)


def test_builtin_names_and_plain_indices():
    y = np.array([0, 3, 9, 9])
    assert class_names("fashion-mnist", y) == FASHION_MNIST
    assert class_names("mnist", y) == DIGITS
    # another dataset: its labels are their own names, up to the largest one
    assert class_names("/data/shapes.npz", np.array([0, 2])) == ("0", "1", "2")


def test_npz_labels_with_and_without_names(tmp_path):
    x = np.zeros((6, 8, 8), np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1, 1, 2, 2, 2]))
    np.savez(tmp_path / "b.npz", x=x, y=np.array([0, 1, 1, 0, 1, 0]), names=np.array(["cat", "dog"]))
    a, b = load_dataset(str(tmp_path / "a.npz")), load_dataset(str(tmp_path / "b.npz"))
    assert conditional_classes("a.npz", a.y, a.label_names) == (("0", "1", "2"), (1, 2, 3))
    assert conditional_classes("b.npz", b.y, b.label_names) == (("cat", "dog"), (3, 3))
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(6), names=np.array(["cat", "dog"]))
    c = load_dataset(str(tmp_path / "c.npz"))
    with pytest.raises(UsageError, match="go up to 5 but only 2 class names"):
        conditional_classes("c.npz", c.y, c.label_names)


def test_folder_names_stored_in_config_and_read_back(tmp_path):
    for i, cls in enumerate(("circle", "square", "circle", "triangle")):
        (tmp_path / "data" / cls).mkdir(parents=True, exist_ok=True)
        Image.new("L", (28, 28), 40 * i).save(tmp_path / "data" / cls / f"{i}.png")
    plan = plan_training(dict(data=str(tmp_path / "data"), batch_size=2, conditional=True,
                              out=str(tmp_path / "runs"), name="shapes"))
    assert plan.cfg.labels == ("circle", "square", "triangle")
    assert plan.cfg.class_counts == (2, 1, 1)
    plan.run.write_config(plan.cfg, {})
    saved = json.loads(plan.run.config.read_text())
    assert saved["conditional"] is True and saved["labels"] == ["circle", "square", "triangle"]
    back = plan.run.read_config()
    assert back == plan.cfg and model_classes(back) == ("circle", "square", "triangle")


def test_unlabelled_data_is_refused(tmp_path, cli):
    for i in range(4):
        Image.new("L", (28, 28), 50 * i).save(tmp_path / f"{i}.png")  # no class sub-folders
    with pytest.raises(UsageError, match="--conditional needs labelled data"):
        plan_training(dict(data=str(tmp_path), batch_size=2, conditional=True,
                           out=str(tmp_path / "runs")))
    result = cli("train", "--data", str(tmp_path), "--batch-size", "2", "--conditional",
                 "--out", str(tmp_path / "runs"), "--dry-run")
    assert_one_line_error(result, 2, "--conditional needs labelled data")
    # a single class is no condition either
    with pytest.raises(UsageError, match="at least two classes"):
        conditional_classes("one.npz", np.zeros(5, np.int64))


def test_bad_labels_are_refused():
    with pytest.raises(UsageError, match="whole numbers"):
        class_names("x.npz", np.zeros((4, 2), np.int64))
    with pytest.raises(UsageError, match="0 or more"):
        class_names("x.npz", np.array([0, -1]))
    with pytest.raises(UsageError, match="more than 1000 classes"):
        class_names("x.npz", np.array([0, 5000]))


def test_conditional_config_needs_classes():
    cfg = TrainConfig(conditional=True)  # before the data is loaded: nothing to check yet
    with pytest.raises(UsageError, match="at least two classes"):
        cfg.replace(image_shape=(28, 28, 1), num_images=100)
    ok = cfg.replace(image_shape=(28, 28, 1), num_images=300, labels=("a", "b"),
                     class_counts=(100, 200))
    assert TrainConfig.from_json(ok.to_json()) == ok
    assert model_classes(TrainConfig(labels=("a", "b"))) == ()  # labels alone: unconditional


# --- proportional labels ---------------------------------------------------------------------------

def test_proportional_labels_follow_the_counts_exactly():
    labels = proportional_labels((100, 300, 0, 600), 10)
    assert list(labels) == [0, 1, 1, 1, 3, 3, 3, 3, 3, 3]
    # largest remainders: 7 images over thirds -> 3, 2, 2 (ties to the lower index)
    assert list(np.bincount(proportional_labels((1, 1, 1), 7))) == [3, 2, 2]
    many = proportional_labels((5, 1, 3), 1000)
    assert len(many) == 1000 and np.abs(np.bincount(many) - np.array([555.6, 111.1, 333.3])).max() < 1


# --- --class parsing -------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("Sneaker", (7,)), ("sneaker", (7,)), ("SNEAK", (7,)), ("sneak", (7,)), ("7", (7,)),
    ("t-shirt", (0,)), ("tshirt", (0,)), ("T-shirt/top", (0,)), ("ankle boot", (9,)),
    ("ankle-boot", (9,)), ("bag", (8,)), ("tr", (1,)), ("sh", (6,)), ("0,7", (0, 7)),
    ("bag, 0 ,dress", (8, 0, 3)),
    ("all", tuple(range(10))), ("ALL", tuple(range(10))),
])
def test_class_names_prefixes_indices_lists(text, expected):
    assert parse_classes(text, FASHION_MNIST) == expected


def test_exact_name_beats_index_and_prefix():
    # folder names that are numbers: "2" is the folder named 2 (index 2 is "3")
    assert parse_classes("2", ("1", "10", "2", "3")) == (2,)
    assert parse_classes("1", ("1", "10", "2")) == (0,)  # exact, though also a prefix of "10"
    assert parse_classes("3", DIGITS) == (3,)


@pytest.mark.parametrize("text,fragment", [
    ("s", "'s' is ambiguous (it could be Sandal, Shirt, Sneaker)"),
    ("boots", "'boots' is not a class of this model"),
    ("12", "no class 12 (this model has 10)"),
    ("0,,7", "empty class name"),
])
def test_class_errors_list_the_valid_names(text, fragment):
    with pytest.raises(UsageError) as err:
        parse_classes(text, FASHION_MNIST)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg
    assert "7 Sneaker" in msg and "9 Ankle boot" in msg and "'all'" in msg


def test_class_on_unconditional_model():
    with pytest.raises(UsageError, match="needs a conditional model; this one is unconditional"):
        parse_classes("sneaker", ())

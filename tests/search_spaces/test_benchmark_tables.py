"""Every row of the public dev tables, where they are present (``NTKNAS_DATA`` or
``../shared/data`` beside the checkout): the builders' parameter counts equal the tables'."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from search_spaces import count_parameters, create_search_space

DATA = Path(os.environ.get("NTKNAS_DATA", Path(__file__).parents[3] / "shared" / "data"))


def rows(relative: str) -> list[dict[str, str]]:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is not here (public benchmark data)")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_nbmacro_every_row():
    space = create_search_space("nbmacro")
    table = rows("nbmacro/nbmacro_cifar10_dev.csv")
    for row in table:
        assert space.parse(row["arch"]).arch == row["arch"]
        assert count_parameters(space.build(row["arch"])) == int(row["params"]), row["arch"]
        assert len({space.canonical(a) for a in row["aliases"].split()}) == 1, row["aliases"]
        assert space.canonical(row["arch"]) in {space.canonical(a) for a in row["aliases"].split()}


@pytest.mark.slow
def test_nb101_every_row():
    space = create_search_space("nb101")
    for row in rows("nb101/nb101_cifar10_dev.csv"):
        assert space.parse(row["arch"]).arch == row["arch"]
        assert abs(count_parameters(space.build(row["arch"])) - int(row["params"])) <= 1


@pytest.mark.parametrize("name", ["autoformer", "pit"])
def test_vit_every_row_parses_and_round_trips(name):
    space = create_search_space(name)
    for row in rows(f"vit/{name}_dev.csv"):
        assert space.parse(row["arch"]).arch == row["arch"]

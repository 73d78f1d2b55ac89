from __future__ import annotations

import os

import pytest

import search_spaces
from ntknas.scorer import NTKScorer


@pytest.fixture
def space():
    # one cell per stage: the exact NB201 cell structure, small enough for fast tests
    return search_spaces.create_search_space("nb201", cells=1)


@pytest.fixture
def scorer():
    return NTKScorer(batch_size=8)


@pytest.fixture
def postgres_url():
    url = os.environ.get("NTKNAS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("NTKNAS_REQUIRE_POSTGRES"):
            pytest.fail("NTKNAS_REQUIRE_POSTGRES is set but NTKNAS_TEST_POSTGRES_URL is not")
        pytest.skip("no PostgreSQL server (set NTKNAS_TEST_POSTGRES_URL; .ci/run starts one)")
    return url

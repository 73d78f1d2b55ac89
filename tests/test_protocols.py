"""The named short-training protocols and the agreement they quote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ntknas.protocols import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol, list_protocols
from search_spaces import create_search_space

MEASURED = Path(__file__).resolve().parents[1] / "results/validate/protocol/protocol.json"


@pytest.mark.parametrize("name", list_protocols())
def test_every_protocol_builds_its_trained_copy_and_takes_its_resolution(name):
    from ntknas.study import build_trained_model
    from ntknas.train import check_resolution

    protocol = get_protocol(name)
    for space_name, options in protocol.space_options.items():
        space = create_search_space(space_name)
        arch = space.sample(0).arch
        model = build_trained_model(space, arch, 10, space_options=options)
        check_resolution(model, protocol.train["resolution"])
        full = space.build(space.parse(arch))
        assert sum(p.numel() for p in model.parameters()) < sum(
            p.numel() for p in full.parameters()
        )  # a reduced copy


def test_quoted_agreement_is_the_committed_measurement():
    """The figures ``ntknas validate`` prints are the ones in results/ (one number, one place)."""
    measured = json.loads(MEASURED.read_text())["protocols"]
    quoted = 0
    for name, protocol in PROTOCOLS.items():
        for space, agreement in protocol.agreement.items():
            row = measured[name][space]
            assert agreement.n == row["n"]
            assert agreement.kendall_tau == pytest.approx(row["kendall_tau"], abs=5e-4)
            assert agreement.low == pytest.approx(row["kendall_tau_lo"], abs=5e-3)
            assert agreement.high == pytest.approx(row["kendall_tau_hi"], abs=5e-3)
            assert agreement.cpu_minutes == pytest.approx(row["cpu_minutes_median"], abs=5e-3)
            quoted += 1
    assert quoted >= 6
    assert DEFAULT_PROTOCOL in PROTOCOLS and PROTOCOLS[DEFAULT_PROTOCOL].agreement


def test_the_default_is_the_one_the_committed_rule_chose():
    """One default in two places (the code and the measurement's summary) cannot drift apart."""
    assert DEFAULT_PROTOCOL == json.loads(MEASURED.read_text())["default"]

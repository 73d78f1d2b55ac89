"""A third-party space registered through the ``ntknas.search_spaces`` entry-point group of a
real (tiny) installed distribution on sys.path."""

from __future__ import annotations

import sys
import textwrap

import search_spaces


def test_third_party_space_loads_from_entry_point(tmp_path, monkeypatch):
    (tmp_path / "tiny_space_pkg.py").write_text(
        textwrap.dedent("""
        import torch
        from search_spaces import ArchSpec, SearchSpace

        class TinySpace(SearchSpace):
            name = "tiny_ep"
            def suggest(self, trial):
                return ArchSpec(self.name, str(trial.suggest_int("width", 1, 4)))
            def sample(self, rng=None):
                return ArchSpec(self.name, str(self._rng(rng).randint(1, 4)))
            def parse(self, text):
                if text not in {"1", "2", "3", "4"}:
                    raise ValueError(f"tiny_ep: width {text!r} not in 1..4")
                return ArchSpec(self.name, text)
            def trial_params(self, spec):
                return {"width": int(self._spec(spec).arch)}
            def build(self, spec, num_classes=10):
                w = int(self._spec(spec).arch)
                return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, w),
                                           torch.nn.ReLU(), torch.nn.Linear(w, num_classes))
    """)
    )
    dist = tmp_path / "tiny_space_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-space-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ntknas.search_spaces]\ntiny_ep = tiny_space_pkg:TinySpace\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(search_spaces._registry, "_entry_points_loaded", False)
    try:
        assert "tiny_ep" in search_spaces.list_search_spaces()
        space = search_spaces.create_search_space("tiny_ep")
        assert space.parse("3").arch == "3"
        assert space.build("2")(__import__("torch").zeros(1, 3, 32, 32)).shape == (1, 10)
    finally:
        search_spaces._registry._REGISTRY.pop("tiny_ep", None)
        sys.modules.pop("tiny_space_pkg", None)

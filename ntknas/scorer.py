"""NTKScorer: from an architecture to spectral metrics and a score, on a fixed probe batch."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ntknas.combined_scores import DEFAULT_SCORE, metrics_needed
from ntknas.data import probe_batch, source_num_classes
from ntknas.ntk import (
    BN_MODES,
    IMPLEMENTATIONS,
    KERNELS,
    PARAM_SETS,
    OutputSelector,
    check_choice,
    check_output_selector,
    contract_full,
    empirical_ntk,
    layerwise_ntk,
)
from ntknas.objectives import (
    BACKWARD_PROBE,
    HELDOUT,
    KERNEL_PASS,
    LAYER_KERNELS,
    PROBE_FORWARD,
    SYNFLOW,
    ZICO,
    computed_by,
    get_objective,
    probe_signal_names,
    requirements,
)
from ntknas.proxies import (
    LabelRangeError,
    kernel_target_alignment,
    krr_metrics,
    layer_gradient_decorrelation,
    probe_logits,
    probe_signals,
    synflow,
    zico,
)
from ntknas.spectral import cosine_lambda_min, spectrum
from search_spaces import ArchSpec, SearchSpace, count_flops, count_parameters


def input_independent(
    model: nn.Module, x: torch.Tensor, output: OutputSelector = None
) -> str | None:
    """Why a network's logits do not depend on its input (every probe image gives the same
    logits, e.g. a NAS-Bench-201 cell whose input is cut off), or None when they do. One
    no-grad forward with BatchNorm on the batch's statistics; the model is unchanged.

    Example:
        >>> input_independent(nn.Linear(3, 2), torch.randn(4, 3)) is None
        True
        >>> input_independent(nn.Sequential(nn.Linear(3, 2), nn.ZeroPad1d(0), nn.Linear(2, 2)).eval(),
        ...                   torch.zeros(4, 3))
        'the logits do not depend on the input: every probe image gives the same logits'
    """
    return logits_independence(probe_logits(model, x, output=output))


def logits_independence(logits: torch.Tensor) -> str | None:
    """:func:`input_independent`'s verdict on the logits of a batch, already computed.

    Example:
        >>> logits_independence(torch.ones(4, 3))
        'the logits do not depend on the input: every probe image gives the same logits'
    """
    out = logits.detach().to(torch.float64)
    if not torch.isfinite(out).all():
        return "the logits are not finite on the probe images"
    spread = (out - out.mean(dim=0, keepdim=True)).abs().max()
    if out.shape[0] > 1 and float(spread) <= 1e-6 * max(float(out.abs().max()), 1e-30):
        return "the logits do not depend on the input: every probe image gives the same logits"
    return None


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; a clear error when CUDA is missing."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"unknown device {device!r}; allowed: cpu, cuda, cuda:N, auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    return torch.device(device)


@dataclass
class ScoreResult:
    """What scoring one architecture produced."""

    arch: str
    hash: str
    metrics: dict[str, float]
    degenerate: bool
    reason: str | None
    score: float | None
    params: int
    flops: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NTKScorer:
    """Scores architectures by the spectrum of their empirical NTK at initialization.

    Args:
        batch_size: probe batch size B (class-balanced, deterministic for ``seed``).
        kernel, bn, params, implementation: passed to :func:`ntknas.empirical_ntk`.
        repeats: kernels averaged over this many seeded initializations.
        seed: seeds the probe batch and the initialization.
        device: ``cpu``, ``cuda`` or ``auto``.
        data: data source (``synthetic``, ``cifar10``, ``imagefolder:PATH``).
        data_dir: root for ``cifar10``.
        metric: the objective that is the score (its direction is declared in
            :mod:`ntknas.objectives`): a combined score (the default, the package's
            :data:`ntknas.combined_scores.DEFAULT_SCORE`; ``ScoreResult.score`` is then None: a combined
            score ranks a population, see :mod:`ntknas.combined_scores`), a spectral metric or a proxy.
            :func:`ntknas.study.make_objective` optimizes it unless told otherwise.
        probe: an explicit ``(x, y)`` probe batch, replacing ``data``.
        heldout: > 0 adds that many class-balanced images of the *test* split: the kernel is
            computed on probe + held-out images (BatchNorm statistics over all of them), the
            spectrum on the probe block, and kernel ridge regression fits the probe labels and
            predicts the held-out ones (``krr_accuracy``, ``krr_loss``). The kernel must be
            ``sum`` or ``trace`` (one scalar kernel for all classes).
        image_size: side of the square images the networks take; probe images of another size
            are resized bilinearly (e.g. 32×32 CIFAR images for the 224×224 benchmark ViTs,
            as those benchmarks trained on CIFAR). None: the input size of the first space
            whose network the scorer builds (:meth:`build`), else the data's own size.
        num_classes: classes of the networks' heads; None: the data source's number of classes
            (e.g. 100 for the CIFAR-100 image tree, even when a probe batch of 64 images holds
            fewer), at least 10 for an explicit ``probe``.
        output: where the logits are in the networks' output when it holds several tensors (an
            index, a key or a callable; e.g. ``1`` for ``(features, logits)``); see
            :func:`ntknas.ntk.logits_of`.
        needs: the objectives / metrics the caller reads; when none of them needs the kernel
            (the default score reads only the probe signals), :meth:`score_model` skips the
            kernel pass and computes the probe signals, #params and FLOPs alone (a network
            whose logits do not depend on its input is then flagged degenerate). None: compute
            everything the settings allow.
        proxies: compute the signals beside the spectrum (on by default: the default score
            reads them): ``naswot`` and the feature decorrelations from one extra no-grad
            forward, the backward decorrelations (the NTK's back-propagated signal at the
            weight layers; one forward and backward of 8 images more), ``synflow``, and
            ``kernel_alignment`` (label alignment of the probe kernel).
        channels_last: run the probe passes (not the kernel pass) with the network's 4-d weights
            and the images in channels-last memory format: the same signals up to float32
            rounding, measured faster on CPU (results/speed/README.md, "Probe passes"). None: on
            when the device is the CPU.

    Example:
        >>> import search_spaces
        >>> space = search_spaces.create_search_space("nb201")
        >>> scorer = NTKScorer(batch_size=8)
        >>> r = scorer.score(space, space.sample(0))
        >>> r.metrics["log_cond"] > 0, r.metrics["backward_group_decorrelation"] > 0
        (True, True)
    """

    def __init__(
        self,
        *,
        batch_size: int = 64,
        kernel: str = "sum",
        bn: str = "frozen",
        params: str = "all",
        implementation: str = "auto",
        repeats: int = 1,
        seed: int = 0,
        device: str = "cpu",
        data: str = "synthetic",
        data_dir: str | os.PathLike | None = None,
        metric: str = DEFAULT_SCORE,
        probe: tuple[torch.Tensor, torch.Tensor] | None = None,
        heldout: int = 0,
        proxies: bool = True,
        image_size: int | None = None,
        num_classes: int | None = None,
        output: OutputSelector = None,
        needs: Sequence[str] | None = None,
        channels_last: bool | None = None,
    ) -> None:
        for name, value, allowed in (
            ("kernel", kernel, KERNELS),
            ("bn", bn, BN_MODES),
            ("params", params, PARAM_SETS),
            ("implementation", implementation, IMPLEMENTATIONS),
        ):
            check_choice(name, value, allowed)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
        if not isinstance(heldout, int) or heldout < 0:
            raise ValueError(f"heldout must be a non-negative integer, got {heldout!r}")
        for name, value in (("image_size", image_size), ("num_classes", num_classes)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if heldout and kernel == "full":
            raise ValueError(
                "heldout (kernel regression) needs kernel 'sum' or 'trace', not 'full'"
            )
        if get_objective(metric).kind == "cost":
            raise ValueError(f"metric must be a training-free score or signal, not {metric!r}")
        self.batch_size = batch_size
        self.kernel = kernel
        self.bn = bn
        self.params = params
        self.implementation = implementation
        self.repeats = repeats
        self.seed = seed
        self.device = resolve_device(device)
        self.data = data
        self.data_dir = data_dir
        self.metric = metric
        self._probe = probe
        self._explicit_probe = probe is not None
        self.heldout = heldout
        self.proxies = proxies
        self.image_size = image_size
        self._num_classes = num_classes
        check_output_selector(output)
        self.output = output
        self.needs = tuple(needs) if needs is not None else None
        if channels_last is not None and not isinstance(channels_last, bool):
            raise ValueError(f"channels_last must be True, False or None, got {channels_last!r}")
        # None: on CPU, where oneDNN's NHWC convolutions measured faster (results/speed/)
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        if self.needs is not None:
            self.check_computes(self.needs)
        self._heldout_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        if size is None or x.dim() != 4 or tuple(x.shape[-2:]) == (size, size):
            return x
        return nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    @property
    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe batch ``(x, y)`` on the scorer's device (loaded once)."""
        if self._probe is None:
            x, y = probe_batch(self.data, self.batch_size, seed=self.seed, data_dir=self.data_dir)
            self._probe = (x, y)
        x, y = self._probe
        if self.image_size is not None and tuple(x.shape[-2:]) != (self.image_size,) * 2:
            self._probe = (x, y) = (self._resized(x), y)
        if x.device != self.device:
            self._probe = (x.to(self.device), y.to(self.device))
        return self._probe

    @property
    def heldout_batch(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The held-out images for kernel regression (test split), or None."""
        if not self.heldout:
            return None
        if self._heldout_batch is None:
            x, y = probe_batch(
                self.data, self.heldout, seed=self.seed, split="test", data_dir=self.data_dir
            )
            self._heldout_batch = (self._resized(x), y)
        x, y = self._heldout_batch
        if x.device != self.device:
            self._heldout_batch = (x.to(self.device), y.to(self.device))
        return self._heldout_batch

    @property
    def num_classes(self) -> int:
        """Classes of the networks' heads (see the ``num_classes`` argument)."""
        if self._num_classes is None:
            if self._explicit_probe:
                self._num_classes = max(10, int(self._probe[1].max()) + 1)
            else:
                self._num_classes = source_num_classes(self.data, self.data_dir)
        return self._num_classes

    def kernel_of(self, model: nn.Module) -> torch.Tensor:
        """Θ of a built model on the probe batch (followed by the held-out images, if any)."""
        return self._kernels_of(model)[0]

    def _kernels_of(self, model: nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """Θ and, for the sum and trace kernels, each module's own kernel (same pass)."""
        x, _ = self.probe
        held = self.heldout_batch
        if held is not None:
            x = torch.cat([x, held[0]])
        options = dict(
            kernel=self.kernel,
            bn=self.bn,
            params=self.params,
            implementation=self.implementation,
            repeats=self.repeats,
            seed=self.seed,
            output=self.output,
        )
        if self.kernel == "full":
            return empirical_ntk(model, x, **options), None
        layers = layerwise_ntk(model, x, **options)
        # Θ = Σ_l Θ_l, summed in float64 like the engine's own accumulation
        theta = sum(t.to(torch.float64) for t in layers.values()).to(x.dtype)
        return theta, layers

    def kernel_needed(self) -> bool:
        """Whether a score needs the kernel pass (see ``needs``)."""
        if self.needs is None:
            return True
        return bool(requirements(self.needs) & KERNEL_PASS)

    def score_model(self, model: nn.Module, *, arch: str = "", arch_hash: str = "") -> ScoreResult:
        """Score an already built model (moved to the scorer's device)."""
        start = time.perf_counter()
        model = model.to(self.device)
        if not self.kernel_needed():
            return self._probe_result(model, arch, arch_hash, start)
        t0 = time.perf_counter()
        K_all, layers = self._kernels_of(model)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        ntk_seconds = time.perf_counter() - t0
        return self._result(model, K_all, arch, arch_hash, ntk_seconds, start, layers=layers)

    def _result(
        self,
        model: nn.Module,
        K_all: torch.Tensor,
        arch: str,
        arch_hash: str,
        ntk_seconds: float,
        start: float,
        same_model: ScoreResult | None = None,
        layers: dict[str, torch.Tensor] | None = None,
    ) -> ScoreResult:
        """Metrics, proxies and costs of a model whose kernel ``K_all`` is known
        (``same_model``: an earlier result of this model, whose forward proxies and FLOPs are
        reused instead of recomputed)."""
        params = count_parameters(model)
        t1 = time.perf_counter()
        b = self.probe[0].shape[0]
        K = K_all if self.kernel == "full" else K_all[:b, :b]
        spec = spectrum(K)
        metrics = {k: float(v) for k, v in spec.items()}
        if layers is not None:
            metrics["layer_lambda_min_cosine"] = layer_gradient_decorrelation(layers, model, b)
            # the same signals over every image in the kernel (probe + held-out, when there
            # are held-out images; the probe alone otherwise)
            metrics["layer_lambda_min_cosine_all"] = (
                layer_gradient_decorrelation(layers, model)
                if K_all.shape[0] > b
                else metrics["layer_lambda_min_cosine"]
            )
            metrics["lambda_min_cosine_all"] = (
                cosine_lambda_min(K_all) if K_all.shape[0] > b else metrics["lambda_min_cosine"]
            )
        t2 = time.perf_counter()
        phases = {"ntk": ntk_seconds, "eigendecomposition": t2 - t1}
        labels = self.probe[1]
        if self.heldout:
            held_labels = self.heldout_batch[1]
            metrics.update(
                krr_metrics(
                    K_all, torch.cat([labels, held_labels]), b, num_classes=self.num_classes
                )
            )
            phases["kernel_regression"] = time.perf_counter() - t2
        if self.proxies:
            t = time.perf_counter()
            wanted = None if self.needs is None else metrics_needed(self.needs)
            if self.kernel != "full" and (wanted is None or "kernel_alignment" in wanted):
                metrics["kernel_alignment"] = kernel_target_alignment(K, labels, self.num_classes)
            if same_model is not None:
                metrics.update(
                    {n: v for n, v in same_model.metrics.items() if n in probe_signal_names()}
                )
                phases["naswot"] = time.perf_counter() - t
            elif self._wants(PROBE_FORWARD) or self._wants(BACKWARD_PROBE):
                metrics.update(self.forward_proxies(model, phases))
        if self._wants(SYNFLOW):
            metrics["synflow"] = self._synflow(model, phases, same_model)
        if self._wants(ZICO) and (value := self._zico(model, phases, same_model)) is not None:
            metrics["zico"] = value
        t = time.perf_counter()
        if same_model is not None:
            flops = same_model.flops
        else:
            flops = count_flops(model, tuple(self.probe[0].shape[1:]))
        phases["flops"] = time.perf_counter() - t
        score = None if spec.degenerate else metrics.get(self.metric)
        return ScoreResult(
            arch=arch,
            hash=arch_hash,
            metrics=metrics,
            degenerate=spec.degenerate,
            reason=spec.reason,
            score=score,
            params=params,
            flops=flops,
            seconds=time.perf_counter() - start,
            phases=phases,
        )

    def _probe_result(
        self, model: nn.Module, arch: str, arch_hash: str, start: float
    ) -> ScoreResult:
        """The probe signals, #params and FLOPs without a kernel pass."""
        phases: dict[str, float] = {}
        metrics: dict[str, float] = {}
        logits: list[torch.Tensor] = []
        needed = metrics_needed(self.needs or ())
        if requirements(self.needs or ()) & {PROBE_FORWARD, BACKWARD_PROBE}:
            metrics.update(self.forward_proxies(model, phases, keep_logits=logits))
        if self._wants(SYNFLOW):
            metrics["synflow"] = self._synflow(model, phases)
        # without the probe forward, ZiCo's logits serve the input check below
        keep = None if logits else logits
        if self._wants(ZICO) and (value := self._zico(model, phases, keep_logits=keep)) is not None:
            metrics["zico"] = value
        t = time.perf_counter()
        # the probe forward's logits when it ran (the same no-grad train-mode forward), else
        # ZiCo's: the same images, BatchNorm on each half's statistics
        reason = (
            logits_independence(logits[0])
            if logits
            else input_independent(model, self.probe[0], self.output)
        )
        phases["input_check"] = time.perf_counter() - t
        t = time.perf_counter()
        flops = count_flops(model, tuple(self.probe[0].shape[1:]))
        phases["flops"] = time.perf_counter() - t
        values = [v for k, v in metrics.items() if k in needed]
        if reason is None and any(not math.isfinite(v) for v in values):
            reason = "a probe signal is not finite"
        score = None if reason is not None else metrics.get(self.metric)
        return ScoreResult(
            arch=arch,
            hash=arch_hash,
            metrics=metrics,
            degenerate=reason is not None,
            reason=reason,
            score=score,
            params=count_parameters(model),
            flops=flops,
            seconds=time.perf_counter() - start,
            phases=phases,
        )

    def _wants(self, requirement: str) -> bool:
        """Whether a pass beside the kernel runs: what ``needs`` requires, or, without
        ``needs``, every proxy pass when ``proxies`` is on."""
        if self.needs is None:
            return self.proxies
        return requirement in requirements(self.needs)

    def _synflow(
        self,
        model: nn.Module,
        phases: dict[str, float],
        same_model: ScoreResult | None = None,
    ) -> float:
        if same_model is not None and "synflow" in same_model.metrics:
            return same_model.metrics["synflow"]
        t = time.perf_counter()
        value = synflow(model, tuple(self.probe[0].shape[1:]), output=self.output)
        phases["synflow"] = time.perf_counter() - t
        return value

    def _zico(
        self,
        model: nn.Module,
        phases: dict[str, float],
        same_model: ScoreResult | None = None,
        keep_logits: list[torch.Tensor] | None = None,
    ) -> float | None:
        """ZiCo of ``model`` on the probe batch; None when it has fewer logits than the probe
        has classes and ``needs`` does not name it. ``keep_logits``: as :func:`zico`'s."""
        if same_model is not None and "zico" in same_model.metrics:
            return same_model.metrics["zico"]
        t = time.perf_counter()
        try:
            value = zico(
                model, self.probe[0], self.probe[1], output=self.output, keep_logits=keep_logits
            )
        except LabelRangeError:
            if self.needs is not None:  # asked for: the caller must see why it cannot be had
                raise
            return None  # computing everything the settings allow: this network has no loss
        phases["zico"] = time.perf_counter() - t
        return value

    def forward_proxies(
        self,
        model: nn.Module,
        phases: dict[str, float] | None = None,
        *,
        keep_logits: list[torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """The probe signals that need no kernel (:func:`ntknas.objectives.probe_signal_names`):
        ``naswot`` and
        ``feature_decorrelation`` from one no-grad forward of the probe batch, then
        ``backward_decorrelation`` (with the scorer's ``bn`` mode) from a forward and backward
        of its first 8 images on that forward's BatchNorm statistics. The model must be on the
        scorer's device. ``phases``: filled with the seconds of each part (``naswot``,
        ``backward_decorrelation``)."""
        return probe_signals(
            model,
            self.probe[0],
            bn=self.bn,
            seconds=phases,
            output=self.output,
            keep_logits=keep_logits,
            signals=None if self.needs is None else metrics_needed(self.needs),
            channels_last=self.channels_last,
        )

    def score_kernels(
        self, space: SearchSpace, spec: ArchSpec | str, kernels: Sequence[str]
    ) -> dict[str, ScoreResult]:
        """Score ``spec`` for several kernels from one ``"full"`` pass (this scorer's kernel).

        The sum and trace kernels are contracted exactly from the full one
        (:func:`ntknas.ntk.contract_full`), so all three cost one full pass; each result's
        ``seconds`` and ``phases["ntk"]`` are that shared pass.

        Example:
            >>> import search_spaces
            >>> space = search_spaces.create_search_space("nb201")
            >>> scorer = NTKScorer(batch_size=4, kernel="full")
            >>> r = scorer.score_kernels(space, space.sample(0), ["full", "sum"])
            >>> sorted(r)
            ['full', 'sum']
        """
        if self.kernel != "full":
            raise ValueError(
                f"score_kernels needs a scorer with kernel='full', not {self.kernel!r}"
            )
        for k in kernels:
            check_choice("kernel", k, KERNELS)
        spec = space.parse(spec) if isinstance(spec, str) else spec
        start = time.perf_counter()
        model = self.build(space, spec)
        built = time.perf_counter()
        full = self.kernel_of(model)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        ntk_seconds = time.perf_counter() - built
        c = full.shape[0] // self.probe[0].shape[0]
        results: dict[str, ScoreResult] = {}
        first: ScoreResult | None = None
        for k in kernels:
            view = copy.copy(self)
            view.kernel = k
            result = view._result(
                model,
                contract_full(full, c, k),
                spec.to_string(),
                spec.hash,
                ntk_seconds,
                start,
                same_model=first,
            )
            first = first or result
            result.phases["build"] = built - start
            results[k] = result
        return results

    def check_computes(self, names: Sequence[str]) -> None:
        """Raise ``ValueError`` when this scorer's settings leave out a metric that ``names``
        (metrics, proxies or combined scores) need: kernel regression needs ``heldout`` > 0, the
        probe signals need ``proxies=True``, the per-layer metrics a sum or trace kernel.

        Example:
            >>> NTKScorer().check_computes(["ntk-agg-v4", "log_cond"])
            >>> NTKScorer(proxies=False).check_computes(["ntk-agg-v4"])
            Traceback (most recent call last):
            ...
            ValueError: 'ntk-agg-v4' needs backward_decorrelation: create the scorer with proxies=True
        """
        for name in names:
            for metric in sorted(metrics_needed([name])):
                objective = get_objective(metric)
                if HELDOUT in objective.requires and not self.heldout:
                    fix = "heldout > 0 (held-out images for kernel regression)"
                elif objective.kind == "proxy" and not self.proxies:
                    fix = "proxies=True"
                elif LAYER_KERNELS in objective.requires and self.kernel == "full":
                    fix = "kernel 'sum' or 'trace'"
                else:
                    continue
                raise ValueError(f"{name!r} needs {metric}: create the scorer with {fix}")

    def reading(self, names: Sequence[str]) -> NTKScorer:
        """This scorer when its ``needs`` are set, else a copy that computes what ``names``
        read and nothing more (a scorer made without ``needs`` computes everything).

        Example:
            >>> NTKScorer().reading(["ntk-agg-v7"]).needs
            ('ntk-agg-v7',)
        """
        if self.needs is not None:
            return self
        view = copy.copy(self)
        view.needs = tuple(names)
        return view

    def build(self, space: SearchSpace, spec: ArchSpec | str) -> nn.Module:
        """``spec`` built with the scorer's seeded initialization (the model every score of
        this scorer sees), on the scorer's device."""
        spec = space.parse(spec) if isinstance(spec, str) else spec
        if self.image_size is None and len(space.input_shape) == 3:
            # the networks of this space take images of this size: probe images follow
            self.image_size = int(space.input_shape[-1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = space.build(spec, num_classes=self.num_classes)
        return model.to(self.device)

    def score(self, space: SearchSpace, spec: ArchSpec | str) -> ScoreResult:
        """Build ``spec`` with the seeded initialization and score it."""
        spec = space.parse(spec) if isinstance(spec, str) else spec
        start = time.perf_counter()
        model = self.build(space, spec)
        built = time.perf_counter()
        result = self.score_model(model, arch=spec.to_string(), arch_hash=spec.hash)
        result.phases["build"] = built - start
        result.seconds += built - start
        return result

    def settings(self) -> dict[str, Any]:
        """The scorer's settings, for result files and Optuna user attributes."""
        return {
            "batch_size": self.batch_size,
            "kernel": self.kernel,
            "bn": self.bn,
            "params": self.params,
            "implementation": self.implementation,
            "repeats": self.repeats,
            "seed": self.seed,
            "device": str(self.device),
            "data": self.data,
            "metric": self.metric,
            "heldout": self.heldout,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            # the proxy names, so results made before a proxy existed are told apart
            "proxies": [*probe_signal_names(), "kernel_alignment", "synflow", "zico"]
            if self.proxies
            else False,
            # the per-layer NTK metrics (sum and trace kernels), named so that results made
            # before one existed are told apart
            "layer_metrics": list(computed_by(LAYER_KERNELS)) if self.kernel != "full" else False,
        }

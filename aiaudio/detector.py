"""Detector: audio -> segments -> batched CNN -> calibrated song probability.

>>> import aiaudio
>>> det = aiaudio.load_detector()            # the shipped default model
>>> s = det.score("song.mp3")                # doctest: +SKIP
>>> s.p_ai, s.label, s.confidence            # doctest: +SKIP

Song score
    The CNN gives one logit per segment (``segment_s`` long, ``segment_hop_s``
    apart, see :mod:`aiaudio.frontend`). The song logit is the **mean of the
    segment logits**; Platt calibration maps it to ``p_ai``. Each segment's own
    ``p_ai`` is its logit through the same calibration.
The label, the verdict in words and the confidence: see :mod:`aiaudio.scores`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .audio import FULL_SCALE_LIMIT, MAX_ANALYSIS_S, SILENCE_DBFS, PathOrFile
from .errors import CUES_MODULES, MissingDependencyError, ModelLoadError, require_extra
from .modelconfig import ModelConfig, load_config
from .runtime import OnnxBackend, TorchBackend, backend_name, load_torch_model, onnx_problem

if TYPE_CHECKING:
    from .explain import Explanation
    from .model import AIMusicNet

__all__ = [
    "Detector",
    "Score",
    "SegmentScore",
    "UntrainedModelWarning",
    "VERDICTS",
    "confidence_for",
    "default_model_dir",
    "explain",
    "load_detector",
    "score",
]

from .scores import (  # noqa: F401  (the verdict and its data classes; re-exported from here as before)
    FULL_CONFIDENCE_SEGMENTS,
    LABELS,
    LOSSY_CUTOFF_HZ,
    VERDICT_OF_LABEL,
    VERDICTS,
    Score,
    SegmentScore,
    UntrainedModelWarning,
    _listen_range,
    _mmss,
    _verdict,
    confidence_for,
)


def default_model_dir() -> Path:
    """Where the default model lives.

    ``$AIAUDIO_MODEL`` when set; else the model shipped inside the installed
    package; else ``models/default`` of a source checkout.
    """
    env = os.environ.get("AIAUDIO_MODEL")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "default_model"  # where `pip install` puts models/default/
    if (packaged / "config.json").is_file():
        return packaged
    return here.parent / "models" / "default"  # a source checkout / editable install


class Detector:
    """A loaded model ready to score audio. Make one with :func:`load_detector`.

    Parameters
    ----------
    model : AIMusicNet, optional
        The torch network (front end + CNN), put in eval mode. ``None`` with ``backend``:
        the network is then loaded from ``model_dir`` when first needed (:attr:`model`).
    model_dir : Path, optional
        Where it was loaded from.
    batch_size : int
        Segments per forward pass.
    backend : aiaudio.runtime.OnnxBackend, optional
        Compute the segment logits with this torch-free backend (see :mod:`aiaudio.runtime`).
    """

    def __init__(
        self, model: "AIMusicNet | None" = None, model_dir: Path | None = None, batch_size: int = 32, *,
        backend: OnnxBackend | None = None,
    ):
        if model is None and backend is None:
            raise ValueError("a Detector needs a model or a backend: make one with aiaudio.load_detector()")
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._onnx = backend
        self._config = backend.config if backend is not None else model.config  # type: ignore[union-attr]
        self._model: Any = None
        self._torch: TorchBackend | None = None
        self._onnx_key: tuple | None = None  # the torch weights the ONNX graph stands for
        if model is not None:
            self._set_model(model, keep_onnx=backend is not None)  # both given: the graph stands for this network

    def _set_model(self, model: "AIMusicNet", keep_onnx: bool) -> None:
        self._model = model.eval()
        self._torch = TorchBackend(self._model)
        if keep_onnx:
            self._onnx_key = self._torch._ti.weights_key(self._model)
        else:
            self._onnx = None

    # ---------------------------------------------------------------- properties
    @property
    def model(self) -> "AIMusicNet":
        """The torch network (loaded from :attr:`model_dir` on first use when the ONNX backend scores).

        Raises
        ------
        MissingDependencyError
            torch is not installed (``pip install "aiaudio[train]"``).
        """
        if self._model is None:
            if self.model_dir is None:
                raise ModelLoadError("this detector has no torch network and no model folder to load one from")
            self._set_model(load_torch_model(self.model_dir), keep_onnx=True)
        return self._model

    @model.setter
    def model(self, model: "AIMusicNet") -> None:
        self._config = model.config
        self._set_model(model, keep_onnx=False)

    @property
    def config(self) -> ModelConfig:
        return self._model.config if self._model is not None else self._config

    @property
    def backend(self) -> str:
        """``"onnx"`` or ``"torch"``: what computes the segment logits now (see :mod:`aiaudio.runtime`)."""
        return self._active().name

    @property
    def sample_rate(self) -> int:
        """Rate (Hz) the model analyses at."""
        return self.config.frontend.sample_rate

    @property
    def version(self) -> str:
        return f"{self.config.name}@{self.config.version}"

    def __repr__(self) -> str:
        state = "trained" if self.config.trained else "UNTRAINED placeholder"
        return f"Detector({self.version}, {state}, {self.backend}, from {self.model_dir})"

    def _active(self) -> "OnnxBackend | TorchBackend":
        """The ONNX backend while the torch network is not loaded, or is loaded unchanged, in eval mode
        and without hooks (instrumentation must see every pass); else the torch backend."""
        if self._onnx is not None:
            m = self._model
            if m is None:
                return self._onnx
            ti = self._torch._ti  # type: ignore[union-attr]
            if not m.training and not ti.has_hooks(m) and ti.weights_key(m) == self._onnx_key:
                return self._onnx
        self.model  # noqa: B018  (loads it when needed)
        return self._torch  # type: ignore[return-value]

    def threads(self, n: int) -> contextlib.AbstractContextManager:
        """Context manager: compute segment logits with ``n`` threads inside the block."""
        return self._active().threads(n)

    # ---------------------------------------------------------------- pieces
    def segment_logits(self, segments: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Raw logits of a batch of segments.

        Parameters
        ----------
        segments : np.ndarray
            ``(n, segment_samples)`` mono samples at :attr:`sample_rate`.
        batch_size : int, optional
            Segments per forward pass (default :attr:`batch_size`). Logits do not depend
            on it beyond float rounding (well under 1e-5).

        Returns
        -------
        np.ndarray
            ``float64`` logits, shape ``(n,)``.

        Notes
        -----
        With the ONNX backend (:attr:`backend`), the numpy front end and the CNN in
        onnxruntime compute them; with torch, a copy of :attr:`model` with every batch norm
        folded into the convolution before it, channels-last tensors and the spectrograms
        computed a few segments at a time (2-4x faster on CPUs than the plain module). The
        two agree within 1e-4. The torch copy is rebuilt when the model's weights change.
        The plain :attr:`model` runs instead while it is in training mode, carries forward
        hooks or has been changed since loading, so instrumentation (saliency, feature
        capture) sees every pass.
        """
        bs = self.batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError("batch_size must be >= 1")
        return self._active().segment_logits(segments, bs)

    def segment_embeddings(self, segments: np.ndarray, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Logits and pooled CNN features of a batch of segments, in one pass (torch backend).

        The features are what the head of the CNN reads: the last conv block's output
        averaged over time and flattened (channels x frequency rows); the logit is the head
        applied to them, the same value :meth:`segment_logits` gives within float rounding.

        Parameters
        ----------
        segments : np.ndarray
            ``(n, segment_samples)`` mono samples at :attr:`sample_rate`.
        batch_size : int, optional
            Segments per forward pass (default :attr:`batch_size`).

        Returns
        -------
        logits : np.ndarray
            ``float64``, shape ``(n,)``.
        features : np.ndarray
            ``float32``, shape ``(n, d)``.
        """
        import torch

        bs = self.batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError("batch_size must be >= 1")
        x = torch.from_numpy(np.ascontiguousarray(segments, dtype=np.float32))
        net = self._inference_net()
        spec = net.spectrogram if isinstance(net, self._torch._ti.InferenceNet) else net.frontend  # type: ignore[union-attr]
        cnn = net.cnn
        logits, feats = [], []
        with torch.inference_mode():
            for i in range(0, x.shape[0], bs):
                h = cnn.features(spec(x[i : i + bs])).mean(dim=3).flatten(1)
                logits.append(cnn.head(h).squeeze(1).double().numpy())
                feats.append(h.float().numpy())
        if not logits:
            return np.zeros(0), np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(logits), np.concatenate(feats)

    def inference_parts(self) -> tuple[Any, Any]:
        """The torch front end and CNN that compute the segment logits (see :meth:`segment_logits`).

        Returns
        -------
        frontend, cnn : torch.nn.Module
            ``cnn(frontend(x))`` are the logits of the segments ``x``: the CPU-tuned copy's
            parts, or the plain :attr:`model`'s while it trains or carries hooks. For
            instrumentation (saliency, occlusion) that needs the spectrogram in between.
        """
        net = self._inference_net()
        return net.frontend, net.cnn

    def _inference_net(self) -> Any:
        """The torch module that computes segment logits (see :meth:`segment_logits`)."""
        self.model  # noqa: B018  (loads it when needed)
        return self._torch.inference_net()  # type: ignore[union-attr]

    def calibrate(self, logit: float) -> float:
        """Map a logit to a calibrated probability (the model's Platt scaling)."""
        return self.config.calibration(float(logit))

    def label_for(self, p_ai: float) -> tuple[str, float]:
        """Label and confidence for a calibrated probability (see module docs).

        The confidence here is that of a full-length clip with no known band limit
        (:func:`confidence_for` with its defaults); :class:`Score` lowers it for short or
        band-limited input.
        """
        c = self.config
        t = c.threshold
        if c.uncertain_low <= p_ai < c.uncertain_high and c.uncertain_low < c.uncertain_high:
            label = "uncertain"
        else:
            label = "ai" if p_ai >= t else "human"
        return label, confidence_for(p_ai, t)

    def score_blocks(self, blocks: Iterable[np.ndarray], path: str) -> tuple[list[int], np.ndarray, "StreamTotals"]:
        """Segment and score a stream of mono blocks at the model rate.

        Parameters
        ----------
        blocks : iterable of np.ndarray
            Mono samples at :attr:`sample_rate`, in blocks of any length (see
            :func:`model_rate_input`).
        path : str
            The input's description, for the error of a too-short input.

        Returns
        -------
        starts : list of int
            Segment starts (samples at the model rate).
        logits : np.ndarray
            Their logits.
        totals : StreamTotals
            The stream's sample count, energy and peak.

        Raises
        ------
        ClipTooShortError
            The stream is shorter than the model needs.

        Notes
        -----
        The folder pipeline (:mod:`aiaudio.batch`) cuts and counts with the same
        :func:`counted_segments`, and finishes with the same :meth:`make_score`.
        """
        fe = self.config.frontend
        totals = StreamTotals()
        starts: list[int] = []
        logits: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        for s0, seg in counted_segments(blocks, fe, totals):
            starts.append(s0)
            batch.append(seg)
            if len(batch) == self.batch_size:
                logits.append(self.segment_logits(np.stack(batch)))
                batch = []
        if totals.samples < fe.min_samples:
            raise too_short_error(totals.samples, fe, path)
        if batch:
            logits.append(self.segment_logits(np.stack(batch)))
        return starts, np.concatenate(logits), totals

    def make_score(
        self,
        starts: Sequence[int],
        logits: np.ndarray,
        total: int,
        mean_square: float,
        *,
        path: str | None,
        cues: dict[str, float] | None = None,
        peak: float | None = None,
        cues_max_s: float | None = MAX_ANALYSIS_S,
    ) -> Score:
        """The song's :class:`Score` from its segment starts (samples at the model rate) and logits.

        ``total`` is the input's length and ``mean_square`` its energy per sample (both of
        the mono model-rate signal). Shared by :meth:`score` and :func:`aiaudio.batch.score_files`, so both give the
        same result for the same file. ``peak`` (max ``|x|`` of the mono model-rate
        signal) sets ``beyond_full_scale``; ``cues_max_s``, the ``max_analysis_s`` the
        cues were computed with, sets ``cues_truncated``.
        """
        fe = self.config.frontend
        flags: list[str] = []
        if not self.config.trained:
            flags.append("untrained_model")
        duration = total / fe.sample_rate
        if mean_square <= 10 ** (SILENCE_DBFS / 10):
            flags.append("silent")
        if total < fe.segment_samples:
            flags.append("shorter_than_segment")
        if peak is not None and peak > FULL_SCALE_LIMIT:
            flags.append("beyond_full_scale")
        if cues and cues_max_s is not None and duration > cues_max_s + 0.01:
            flags.append("cues_truncated")
        logits = np.asarray(logits, dtype=np.float64)
        song_logit = float(np.mean(logits))
        p = self.calibrate(song_logit)
        label, _ = self.label_for(p)
        seg_len = fe.segment_s
        segments = [
            SegmentScore(
                start_s=s0 / fe.sample_rate,
                end_s=min(s0 / fe.sample_rate + seg_len, duration),
                p_ai=self.calibrate(lg),
                logit=float(lg),
            )
            for s0, lg in zip(starts, logits)
        ]
        top_hz = (fe.bin_range[1] - 1) * fe.sample_rate / fe.n_fft
        cut = (cues or {}).get("cutoff_hz")
        conf = confidence_for(p, self.config.threshold, n_segments=len(segments), cutoff_hz=cut, model_top_hz=top_hz)
        listen = _listen_range(segments, self.config.threshold)
        verdict, reason = _verdict(label, p, self.config, flags, listen, len(segments))
        return Score(
            p_ai=p,
            label=label,
            verdict=verdict,
            reason=reason,
            listen_start_s=listen[0],
            listen_end_s=listen[1],
            confidence=conf,
            duration_s=duration,
            segments=segments,
            cues=dict(cues or {}),
            flags=flags,
            model_version=self.version,
            path=path,
            logit=song_logit,
        )

    _make_score = make_score  # the former private name
    _score_blocks = score_blocks

    # ---------------------------------------------------------------- public
    def score(
        self,
        audio: PathOrFile | np.ndarray,
        sr: int | None = None,
        *,
        cues: bool = False,
        max_analysis_s: float | None = MAX_ANALYSIS_S,
    ) -> Score:
        """Score one song, file or array.

        Parameters
        ----------
        audio : path, bytes, binary file object, or np.ndarray
            A file in any format :func:`aiaudio.load_audio` reads (a path, the file's
            bytes, or a file opened in binary mode), or samples of shape ``(samples,)``
            or ``(channels, samples)``: floats with full scale 1.0, or integer PCM
            (scaled by its full scale, see :func:`aiaudio.audio.validate_samples`).
        sr : int, optional
            Sample rate (Hz) of an array input: required then, a whole number from 1000
            to 768000. Not allowed with a file, which states its own rate.
        cues : bool
            Also compute the interpretable cues (costs roughly as much as scoring). They
            describe the first ``max_analysis_s`` seconds; the score covers the whole input.
        max_analysis_s : float or None
            Longest stretch (s) from the start that the cues read into memory (default
            :data:`~aiaudio.audio.MAX_ANALYSIS_S`, 10 minutes); ``None``: all of it.
            A longer input is flagged ``cues_truncated``.

        Returns
        -------
        Score

        Raises
        ------
        AudioLoadError
            The input cannot be decoded or is unusable (an empty array or file:
            ``reason="empty"``); :class:`ClipTooShortError` (a subclass) when it is
            shorter than the model needs; :class:`~aiaudio.InvalidInputError` (a
            subclass, also a ``TypeError``) for a missing, non-integer or implausible
            ``sr``, ``sr`` given with a file, a list of paths (score many files with
            :func:`aiaudio.batch.score_files`) or an object that is not audio.
        MissingDependencyError
            ``cues=True`` without scipy and pyloudnorm (the ``cues`` extra).

        Warns
        -----
        UntrainedModelWarning
            The model is a placeholder.
        BeyondFullScaleWarning
            Float samples peak above 2.0 (flag ``beyond_full_scale``).
        """
        max_analysis_s = _check_max_analysis_s(max_analysis_s)
        if cues:
            require_extra(CUES_MODULES, "cues", "score(..., cues=True)")  # before any decoding
        blocks, path, desc, cue_values = model_rate_input(audio, sr, self.config.frontend, cues, max_analysis_s)
        starts, logits, totals = self.score_blocks(blocks, desc)
        if not self.config.trained:
            warnings.warn(
                f"aiaudio: the model {self.version} is an UNTRAINED placeholder; its scores are "
                "meaningless. Train a model (`aiaudio train`) or install a release with real weights.",
                UntrainedModelWarning,
                stacklevel=2,
            )
        s = self.make_score(
            starts, logits, totals.samples, totals.mean_square, path=path, cues=cue_values, peak=totals.peak,
            cues_max_s=max_analysis_s,
        )
        if "beyond_full_scale" in s.flags:
            _warn_beyond_full_scale(desc, totals.peak, stacklevel=2)
        return s


    def explain(self, audio: PathOrFile | np.ndarray, sr: int | None = None, **kwargs: Any) -> "Explanation":
        """Why this input scored as it did: timeline, cue evidence, saliency, summary.

        See :func:`aiaudio.explain.explain` for the parameters and what is measured.
        Explanations need torch (saliency maps take gradients): ``pip install "aiaudio[train]"``.

        Raises
        ------
        MissingDependencyError
            torch is not installed.
        """
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise MissingDependencyError(
                'explanations need PyTorch, which is not installed (scoring does not): pip install "aiaudio[train]"'
            ) from e
        from .explain import explain

        return explain(self, audio, sr, **kwargs)


# The input handling lives in aiaudio/inputs.py (shared with the explanations); the old names stay here.
from .inputs import SCORE_BLOCK_S  # noqa: E402,F401
from .inputs import InputHead as _Head  # noqa: E402,F401
from .inputs import StreamTotals, counted_segments, model_rate_input, too_short_error  # noqa: E402,F401  (public here as before)
from .inputs import _then  # noqa: E402,F401
from .inputs import check_max_analysis_s as _check_max_analysis_s  # noqa: E402
from .inputs import open_input as _open_input  # noqa: E402,F401
from .inputs import warn_beyond_full_scale as _warn_beyond_full_scale  # noqa: E402



def load_detector(
    model: str | os.PathLike[str] | None = None, *, batch_size: int = 32, backend: str | None = None
) -> Detector:
    """Load a detector.

    Parameters
    ----------
    model : path, optional
        A model directory (``config.json`` + ``model.safetensors`` and/or ``model.onnx``);
        ``None`` for the default model (see :func:`default_model_dir`).
    batch_size : int
        Segments per forward pass.
    backend : {"auto", "onnx", "torch"}, optional
        What computes the segment logits (see :mod:`aiaudio.runtime`); default
        ``$AIAUDIO_BACKEND``, else ``"auto"``: ONNX (numpy front end + onnxruntime, no
        torch) when the folder holds a ``model.onnx`` of its current weights, else torch.
        Both give the same scores within 1e-4.

    Returns
    -------
    Detector

    Raises
    ------
    ModelLoadError
        When the directory is missing or holds an invalid model, when ``backend="onnx"``
        and its ``model.onnx`` is missing or stale, or when neither backend can run it
        (no usable ``model.onnx`` and no torch).
    MissingDependencyError
        ``backend="torch"`` without torch, or ``backend="onnx"`` without onnxruntime.
    ValueError
        An unknown ``backend``.
    """
    name = backend_name(backend)
    d = Path(model) if model is not None else default_model_dir()
    if not d.is_dir():
        raise ModelLoadError(
            f"{d}: no model directory here. Pass a directory holding config.json and "
            "model.safetensors, or omit it for the default model."
        )
    if name == "torch":
        return Detector(load_torch_model(d), model_dir=d, batch_size=batch_size)
    config = load_config(d)
    problem = onnx_problem(d)
    if problem is None:
        try:
            return Detector(None, model_dir=d, batch_size=batch_size, backend=OnnxBackend(d, config))
        except ModelLoadError as e:
            if name == "onnx":
                raise
            problem = str(e)
            warnings.warn(f"aiaudio: {problem}; scoring with torch instead", RuntimeWarning, stacklevel=2)
    elif name == "onnx":
        if "onnxruntime" in problem:
            raise MissingDependencyError(problem)
        raise ModelLoadError(problem)
    try:
        return Detector(load_torch_model(d), model_dir=d, batch_size=batch_size)
    except MissingDependencyError as e:
        raise ModelLoadError(f"{d}: cannot score with this model: {problem}; and {e}") from e


_DEFAULT: Detector | None = None


def _detector(model: str | os.PathLike[str] | None) -> Detector:
    global _DEFAULT
    if model is not None:
        return load_detector(model)
    if _DEFAULT is None:
        _DEFAULT = load_detector()
    return _DEFAULT


def explain(audio: PathOrFile | np.ndarray, sr: int | None = None, *, model: str | os.PathLike[str] | None = None, **kwargs: Any) -> "Explanation":
    """Explain one input with the default model (loaded once and kept) or ``model``.

    The one-line shortcut for ``load_detector(model).explain(audio, sr)``.
    """
    return _detector(model).explain(audio, sr, **kwargs)


def score(
    audio: PathOrFile | np.ndarray,
    sr: int | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    cues: bool = False,
    max_analysis_s: float | None = MAX_ANALYSIS_S,
) -> Score:
    """Score one input with the default model (loaded once and kept) or ``model``.

    The one-line shortcut for ``load_detector(model).score(audio, sr)``; see
    :meth:`Detector.score` for the inputs it takes and the errors it raises.
    """
    return _detector(model).score(audio, sr, cues=cues, max_analysis_s=max_analysis_s)

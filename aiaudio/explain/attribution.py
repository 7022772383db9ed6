"""Attribution measured on the model: occlusion saliency over time and frequency, the saliency
reference of a model, band checks (filtering a band out and scoring again), the interventions' effects.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

from ..audio import resample, to_mono, validate_samples
from ..cues import CUE_NAMES, PeakResult, checked_cues
from ..frontend import segment_starts
from ..samples import check_rate_hz
from .labels import _hz
from .interventions import Intervention, _Context, _iqr, human_median
from .types import BAND_CHECK_MIN, BandCheck, Effect, PeakSpectrum, SALIENCY_REFERENCE_NAME, SMALL_SALIENCY, Saliency, SaliencyReference, TimelinePoint


def _cue_values(y: np.ndarray, sr: int) -> dict[str, float]:
    """:func:`extract_cues` without its level warning (the explanation warns once and flags it)."""
    return checked_cues(validate_samples(y, keep_float64=True, check_layout=False), check_rate_hz(sr))


def _mono_at_model_rate(y: np.ndarray, sr: int, model_sr: int) -> np.ndarray:
    return resample(to_mono(y)[0], int(sr), model_sr)


def _segment_at(mono: np.ndarray, s0: int, L: int) -> np.ndarray:
    seg = mono[s0 : s0 + L]
    if seg.shape[0] < L:
        seg = np.pad(seg, (0, L - seg.shape[0]), mode="wrap")
    return np.ascontiguousarray(seg, dtype=np.float32)


def _quiet_score(det, y: np.ndarray, sr: int):
    from ..detector import UntrainedModelWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return det.score(y, sr)


def _inference_parts(det) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Front end and CNN that compute the detector's logits: its CPU-tuned copy when it has one."""
    return det.inference_parts()


def _occlusion(
    det,
    mono: np.ndarray,
    starts: Sequence[int],
    logits: np.ndarray,
    n_bands: int,
    n_blocks: int,
    max_passes: int,
    fill_profile: np.ndarray | None = None,
) -> Saliency:
    """Occlusion map of the segments of ``mono`` (see the module docs).

    ``fill_profile`` (per front-end bin) is what an occluded patch becomes; ``None``: the
    patch's own mean level.
    """
    t0 = time.perf_counter()
    fe = det.config.frontend
    L = fe.segment_samples
    n = len(starts)
    per_seg = n_bands * n_blocks + 1
    k = int(min(n, max(1, max_passes // per_seg)))
    idx = sorted(set(np.round(np.linspace(0, n - 1, k)).astype(int).tolist()))
    top = int(np.argmax(logits))
    if top not in idx:  # always look inside the most AI-like segment
        idx[int(np.argmin([abs(i - top) for i in idx]))] = top
        idx = sorted(set(idx))
    x = torch.from_numpy(np.stack([_segment_at(mono, int(starts[i]), L) for i in idx]))
    frontend, cnn = _inference_parts(det)
    passes = 0
    with torch.inference_mode():
        spec = frontend(x).contiguous(memory_format=torch.channels_last)
        F, T = int(spec.shape[2]), int(spec.shape[3])
        fill = None
        if fill_profile is not None:
            if len(fill_profile) != F:
                raise ValueError(f"the fill profile has {len(fill_profile)} bins; the model's spectrogram {F}")
            fill = torch.as_tensor(np.asarray(fill_profile, dtype=np.float32))[:, None]
        n_bands = min(n_bands, F)
        n_blocks = min(n_blocks, T)
        fb = [(int(a[0]), int(a[-1]) + 1) for a in np.array_split(np.arange(F), n_bands)]
        tb = [(int(a[0]), int(a[-1]) + 1) for a in np.array_split(np.arange(T), n_blocks)]
        delta = np.zeros((n_bands, len(idx) * n_blocks))
        for j in range(len(idx)):
            batch = spec[j : j + 1].repeat(1 + n_bands * n_blocks, 1, 1, 1).clone()
            m = 1
            for f0, f1 in fb:
                for a0, a1 in tb:
                    if fill is None:
                        batch[m, 0, f0:f1, a0:a1] = spec[j, 0, f0:f1, a0:a1].mean()
                    else:
                        batch[m, 0, f0:f1, a0:a1] = fill[f0:f1]
                    m += 1
            out = []
            for i0 in range(0, batch.shape[0], det.batch_size):
                out.append(cnn(batch[i0 : i0 + det.batch_size]).double().numpy().reshape(-1))
            lg = np.concatenate(out)
            passes += lg.shape[0]
            delta[:, j * n_blocks : (j + 1) * n_blocks] = (lg[0] - lg[1:]).reshape(n_bands, n_blocks)
    lo_bin = fe.bin_range[0]
    df = fe.sample_rate / fe.n_fft
    edges = [(lo_bin + f0) * df for f0, _ in fb] + [(lo_bin + fb[-1][1] - 1) * df]
    col_hop = fe.hop_length * fe.time_pool
    cs, ce, si = [], [], []
    for j, i in enumerate(idx):
        s0 = int(starts[i]) / fe.sample_rate
        for a0, a1 in tb:
            cs.append(s0 + a0 * col_hop / fe.sample_rate)
            ce.append(s0 + ((a1 - 1) * col_hop + fe.n_fft + (fe.time_pool - 1) * fe.hop_length) / fe.sample_rate)
            si.append(i)
    baseline = "band_level" if fill is None else "human_reference_spectrum"
    return Saliency("occlusion", baseline, edges, cs, ce, si, delta, passes, time.perf_counter() - t0)


# --------------------------------------------------------------------------- saliency reference


def model_fingerprint(det) -> str:
    """SHA-256 (hex, 16 characters) of a detector's front-end settings and every weight and buffer.

    A :class:`SaliencyReference` is used only for the model with the same fingerprint.
    """
    import hashlib

    h = hashlib.sha256(json.dumps(det.config.frontend.to_dict(), sort_keys=True).encode())
    for name, t in sorted(det.model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def load_saliency_reference(det) -> SaliencyReference | None:
    """The saliency reference of ``det``'s model, or ``None`` when it has none.

    Looked for in the model directory (``saliency_reference.json``), then among the
    package's assets (``aiaudio/assets/saliency_<fingerprint>.json``, where
    ``scripts/build_saliency_reference.py`` writes the shipped model's). A file whose
    fingerprint is not the model's (e.g. after retraining) is ignored.
    """
    from importlib import resources

    fp = model_fingerprint(det)
    texts = []
    md = getattr(det, "model_dir", None)
    if md is not None and (Path(md) / SALIENCY_REFERENCE_NAME).is_file():
        texts.append((Path(md) / SALIENCY_REFERENCE_NAME).read_text(encoding="utf-8"))
    try:
        texts.append(resources.files("aiaudio").joinpath("assets").joinpath(f"saliency_{fp}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError):
        pass
    for text in texts:
        try:
            ref = SaliencyReference.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError):
            continue
        if ref.fingerprint == fp:
            return ref
    return None


def _mean_spectrum(det, mono: np.ndarray, starts: Sequence[int]) -> tuple[np.ndarray, int]:
    """Sum over segments of the per-bin time mean of the front end's output, and the segment count."""
    fe = det.config.frontend
    frontend, _ = _inference_parts(det)
    tot, n = None, 0
    with torch.inference_mode():
        for i in range(0, len(starts), 8):
            x = torch.from_numpy(np.stack([_segment_at(mono, int(s0), fe.segment_samples) for s0 in starts[i : i + 8]]))
            m = frontend(x)[:, 0].mean(dim=2).double().numpy()  # (b, F)
            tot = m.sum(axis=0) if tot is None else tot + m.sum(axis=0)
            n += m.shape[0]
    return tot, n


def build_saliency_reference(
    det,
    tracks: Sequence[tuple[np.ndarray, int]],
    *,
    n_bands: int = 16,
    n_time_blocks: int = 1,
    max_occlusion_passes: int = 192,
    meta: dict[str, Any] | None = None,
) -> SaliencyReference:
    """Measure the occlusion attribution of ``det`` on human reference tracks.

    Parameters
    ----------
    det : aiaudio.Detector
    tracks : sequence of (samples, sample_rate)
        Human-made music (any rate, mono or not), e.g. excerpts of a minute.
    n_bands, n_time_blocks, max_occlusion_passes : int
        The occlusion grid and budget, as in :func:`explain` (its defaults).
    meta : dict, optional
        Provenance to keep in the reference.

    Returns
    -------
    SaliencyReference
        Two passes: the mean spectrum of all tracks (the occlusion baseline), then every
        track's band importance against that baseline, summarised by percentiles.
    """
    fe = det.config.frontend
    if not tracks:
        raise ValueError("build_saliency_reference needs at least one human track")
    monos = []
    tot, nseg = None, 0
    for y, sr in tracks:
        mono = _mono_at_model_rate(validate_samples(y), int(sr), fe.sample_rate)
        starts = segment_starts(mono.shape[0], fe)
        t, k = _mean_spectrum(det, mono, starts)
        tot = t if tot is None else tot + t
        nseg += k
        monos.append((mono, starts))
    fill = tot / nseg
    imps = []
    edges: list[float] = []
    for mono, starts in monos:
        lg = det.segment_logits(np.stack([_segment_at(mono, int(s0), fe.segment_samples) for s0 in starts]))
        sal = _occlusion(det, mono, starts, lg, n_bands, n_time_blocks, max_occlusion_passes, fill)
        imps.append(sal.band_importance)
        edges = sal.band_edges_hz
    imp = np.stack(imps)
    return SaliencyReference(
        model_fingerprint(det), det.version, fill, int(imp.shape[1]), int(n_time_blocks), list(edges),
        np.percentile(imp, 50, axis=0), np.percentile(imp, 5, axis=0), np.percentile(imp, 95, axis=0),
        len(tracks), dict(meta or {}, n_segments=nseg),
    )


def filter_band(y: np.ndarray, sr: int, lo_hz: float, hi_hz: float, order: int = 8) -> tuple[np.ndarray, str]:
    """Filter the band ``lo_hz``-``hi_hz`` out of ``y``: the band check's operation.

    An elliptic filter (:func:`scipy.signal.ellip`: 0.05 dB ripple, 80 dB stop band,
    ``order`` poles, applied forward and backward with :func:`scipy.signal.sosfiltfilt`):
    a high-pass at ``hi_hz`` when the band starts at 0 Hz, a low-pass at ``lo_hz`` when it
    reaches the top of the model's input (``hi_hz >= sr / 2`` or the caller's top), else a
    band-stop with the band as its edges.

    Returns
    -------
    samples : np.ndarray
        ``float32``, same shape.
    operation : str
        What was applied.
    """
    y = np.asarray(y, dtype=np.float32)
    nyq = sr / 2
    if lo_hz <= 1.0 and hi_hz < 0.999 * nyq:
        sos = scipy.signal.ellip(order, 0.05, 80, hi_hz, btype="highpass", output="sos", fs=sr)
        op = f"high-pass at {_hz(hi_hz)}"
    elif lo_hz > 1.0 and hi_hz >= 0.999 * nyq:
        if lo_hz >= 0.999 * nyq:
            return y.copy(), "nothing to filter: the band lies above the audio's Nyquist frequency"
        sos = scipy.signal.ellip(order, 0.05, 80, lo_hz, btype="lowpass", output="sos", fs=sr)
        op = f"low-pass at {_hz(lo_hz)}"
    elif lo_hz > 1.0:
        sos = scipy.signal.ellip(order // 2, 0.05, 80, [lo_hz, hi_hz], btype="bandstop", output="sos", fs=sr)
        op = f"band-stop {_hz(lo_hz)}-{_hz(hi_hz)}"
    else:
        raise ValueError(f"the band {lo_hz:.0f}-{hi_hz:.0f} Hz covers the whole spectrum at {sr} Hz")
    out = scipy.signal.sosfiltfilt(sos, y.astype(np.float64), axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32), op + f" (elliptic, {order} poles, zero phase)"


def _band_checks(det, sal: Saliency, y_ex: np.ndarray, sr: int, base, model_top_hz: float, max_ai: int = 3, max_human: int = 2) -> None:
    """Fill ``sal.checks``, ``sal.ai_band`` and ``sal.human_band`` (see :class:`Saliency`)."""
    if sal.human_median is None or not sal.delta_logit.size:
        return
    bi = sal.band_importance
    rel = bi - sal.human_median
    ai = [int(j) for j in np.argsort(-rel) if bi[j] > sal.human_p95[j] and rel[j] >= SMALL_SALIENCY][:max_ai]
    hu = [int(j) for j in np.argsort(rel) if bi[j] < sal.human_p5[j] and rel[j] <= -SMALL_SALIENCY][:max_human]
    edges = sal.band_edges_hz
    for side, cands in (("ai", ai), ("human", hu)):
        for j in cands:
            lo, hi = float(edges[j]), float(edges[j + 1])
            hi_f = sr / 2 if hi >= model_top_hz - 1.0 else hi  # the top band: everything above it too
            y2, op = filter_band(y_ex, sr, lo, hi_f)
            s2 = _quiet_score(det, y2, sr)
            d = s2.p_ai - base.p_ai
            ok = d <= -BAND_CHECK_MIN if side == "ai" else d >= BAND_CHECK_MIN
            sal.checks.append(BandCheck(j, lo, hi, side, float(bi[j]), float(sal.human_median[j]), op, base.p_ai, s2.p_ai, d, bool(ok)))
            if ok and side == "ai" and sal.ai_band is None:
                sal.ai_band = j
            if ok and side == "human" and sal.human_band is None:
                sal.human_band = j


def _excerpt_window(timeline: list[TimelinePoint], song_logit: float, fe, duration_s: float, max_s: float | None) -> tuple[int, int]:
    """Segments [i, j) of the excerpt of at most ``max_s`` whose mean logit is closest to the song's."""
    n = len(timeline)
    if max_s is None or duration_s <= max_s or n <= 1:
        return 0, n
    hop = fe.segment_hop_s
    k = max(1, int((max_s - fe.segment_s) // hop) + 1)
    k = min(k, n)
    lg = np.array([t.logit for t in timeline])
    c = np.concatenate([[0.0], np.cumsum(lg)])
    means = (c[k:] - c[:-k]) / k
    best = int(np.argmin(np.abs(means - song_logit)))
    return best, best + k


def _direction(name: str, before: float, after: float) -> str:
    tol = 0.02 * _iqr(name)
    if not (math.isfinite(before) and math.isfinite(after)) or abs(after - before) <= tol:
        return "unchanged"
    med = human_median(name)
    return "toward_human_median" if abs(after - med) < abs(before - med) else "away_from_human_median"


def _run_intervention(det, iv: Intervention, y_ex: np.ndarray, sr: int, ctx: _Context, base, cues_before: dict[str, float], t_ex: tuple[float, float]) -> Effect:
    eff = Effect(iv.name, iv.group, list(iv.cues), measured=False, excerpt_start_s=t_ex[0], excerpt_end_s=t_ex[1])
    try:
        variants, reason = iv.apply(y_ex, sr, ctx)
    except Exception as e:  # an intervention that fails is reported, never invented
        variants, reason = [], f"the intervention failed ({type(e).__name__}: {e})"
    if not variants:
        eff.reason = reason
        return eff
    best = None
    for label, y2, op in variants:
        s2 = _quiet_score(det, y2, sr)
        d = s2.p_ai - base.p_ai
        eff.variants.append({"label": label, "operation": op, "p_ai_after": s2.p_ai, "logit_after": s2.logit, "delta_p_ai": d})
        if best is None or abs(d) > abs(best[0]):
            best = (d, label, y2, op, s2)
    d, label, y2, op, s2 = best
    cues_after = _cue_values(y2, sr)
    eff.measured = True
    eff.operation = op if len(variants) == 1 else "; ".join(v["operation"] for v in eff.variants) + f" (reported: {label})"
    eff.p_ai_before, eff.logit_before = base.p_ai, base.logit
    eff.p_ai_after, eff.logit_after = s2.p_ai, s2.logit
    eff.delta_p_ai = s2.p_ai - base.p_ai
    eff.cue_before = {c: cues_before[c] for c in iv.cues}
    eff.cue_after = {c: cues_after[c] for c in iv.cues}
    eff.direction = _direction(iv.cues[0], cues_before[iv.cues[0]], cues_after[iv.cues[0]])
    for c in CUE_NAMES:
        if c in iv.cues or c == "upsampler_period_hz":
            continue
        if abs(cues_after[c] - cues_before[c]) > 0.25 * _iqr(c):
            eff.side_effects[c] = [cues_before[c], cues_after[c]]
    return eff


def _peak_spectrum(pk: PeakResult, model_top_hz: float) -> PeakSpectrum:
    a = int(np.searchsorted(pk.freqs, pk.band_hz[0]))
    b = int(np.searchsorted(pk.freqs, pk.band_hz[1], side="right"))
    r = pk.residual_db[a:b]
    med = float(np.median(r)) if r.size else 0.0
    pf = np.asarray(pk.peak_freqs, dtype=float)
    heights = np.array([pk.residual_db[int(np.argmin(np.abs(pk.freqs - f)))] - med for f in pf]) if pf.size else np.zeros(0)
    return PeakSpectrum(
        np.asarray(pk.freqs[a:b], dtype=np.float64), np.asarray(r, dtype=np.float64), tuple(pk.band_hz), pf, heights,
        med, pk.strength_db, pk.periodicity, pk.period_hz, model_top_hz,
    )



"""Decoding, down-mixing and resampling of audio files.

Every reader returns ``float32`` samples with **channels first**: an array of
shape ``(channels, samples)``, values nominally in ``[-1, 1]``.

Decoding goes through libsndfile (:mod:`soundfile`: WAV, FLAC, OGG/Vorbis,
OGG/Opus, MP3, AIFF, ...) and falls back to FFmpeg through PyAV (:mod:`av`) for
what libsndfile cannot read (AAC/M4A, Opus or Vorbis in WebM/Matroska, WMA,
...). Resampling uses soxr (high quality).

An MP3 that libsndfile stops reading early (a damaged frame it cannot resync past, or
fewer samples than its length estimate) is read on by FFmpeg, which skips damaged
frames as the ``ffmpeg`` command does. It counts as truncated or corrupt only when
FFmpeg also decodes less than the file's length header (Xing/Info frame count, VBRI)
states, or the damaged frames hold more than 2% of the audio. An MP3 without a length
header declares no length: libsndfile's figure is then an estimate from the file size,
ID3 tags and cover art included, and the first frame's bitrate; it can overstate the
length by many seconds, or understate it (VBR), and libsndfile stops at it. So when
libsndfile has read an MP3 to its length, FFmpeg's packets are counted (no decoding), and
if they hold more, FFmpeg decodes the rest.

Long files can be read in blocks with :func:`stream_audio`, so memory stays
flat whatever the duration; :func:`load_audio` is the same reader, concatenated.

Sample rates from :data:`MIN_SAMPLE_RATE` (1 kHz) to :data:`MAX_SAMPLE_RATE`
(768 kHz) are read; a file that declares a rate outside that range is refused
(``reason="bad_sample_rate"``) before anything is decoded or resampled: such a rate is
a damaged or hand-made header (an 80 kB WAV that claims 1 Hz would otherwise count as
11 hours and be resampled to hundreds of MB).

A WAV written to a pipe (``ffmpeg ... -f wav -``) cannot go back to fill in its
RIFF and ``data`` sizes and leaves the placeholder ``0xFFFFFFFF`` (or ``0``): such a
file is read to its end. Its length cannot be checked against the header, so a
streamed WAV cut short reads as a shorter file, not as a damaged one.
"""

from __future__ import annotations

import io
import os
import stat
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioLoadError, InvalidInputError
from .samples import validate_samples  # the one sample check (shared with the cues)

__all__ = [
    "AudioInfo",
    "AudioLoadError",
    "AudioStream",
    "BeyondFullScaleWarning",
    "FULL_SCALE_LIMIT",
    "MAX_ANALYSIS_S",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "check_sample_rate",
    "PathOrFile",
    "audio_info",
    "load_audio",
    "stream_audio",
    "resample",
    "to_mono",
    "validate_samples",
    "is_silent",
    "AUDIO_EXTENSIONS",
    "encode_audio",
    "write_audio",
]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

#: File name extensions that folder scanning treats as audio (lower case, with dot).
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac",
        ".mp4", ".webm", ".mka", ".aif", ".aiff", ".aifc", ".au", ".caf", ".wma", ".w64",
    }
)

#: Level (dBFS, RMS over the whole signal) below which audio counts as silent.
SILENCE_DBFS = -70.0

#: Lowest sample rate (Hz) read or accepted. Real recordings start at 4-8 kHz; below
#: 1 kHz a rate is a damaged header or a wrong argument, not audio.
MIN_SAMPLE_RATE = 1000
#: Highest sample rate (Hz) read or accepted: 768 kHz, the top DXD/PCM rate of audio interfaces.
MAX_SAMPLE_RATE = 768_000

#: Peak level (linear, full scale = 1.0) above which float samples count as not scaled to
#: full scale: 2.0 is +6 dBFS. Float masters may overshoot 1.0 by a dB or two; integer PCM
#: values stored as floats (int16 scale) reach thousands. Such input is scored (the model
#: ignores gain) but flagged ``beyond_full_scale`` with a :class:`BeyondFullScaleWarning`,
#: because the level-based results (``silent``, loudness, peaks, clipping) assume 1.0.
FULL_SCALE_LIMIT = 2.0

#: Default for ``max_analysis_s``: the longest stretch (s) from the start of an input that
#: the in-memory analyses (cues, :func:`aiaudio.explain`) decode and analyse. Scoring
#: itself is streamed and always covers the whole input. Ten minutes of 48 kHz stereo are
#: 230 MB of samples; a 2-hour file read whole would take 7.7 GB.
MAX_ANALYSIS_S = 600.0


class BeyondFullScaleWarning(UserWarning):
    """Float samples peak far above full scale (> :data:`FULL_SCALE_LIMIT`): probably PCM
    integers stored as floats. Divide by 32768 (int16) or pass the integer array itself."""


def check_sample_rate(sr: object, *, what: str = "sr") -> int:
    """Check a sample rate given by the caller and return it as ``int``.

    Parameters
    ----------
    sr : int
        An integer number of Hz (an integral float such as ``44100.0`` is accepted) in
        ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]``.
    what : str
        Its name in the message.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        ``sr`` is not a whole number of Hz, or is outside the range (``reason="sample_rate"``).
    """
    ok_type = isinstance(sr, (int, np.integer, float, np.floating)) and not isinstance(sr, (bool, np.bool_))
    value = float(sr) if ok_type else math.nan  # type: ignore[arg-type]
    if not ok_type or not math.isfinite(value) or value != math.floor(value):
        raise InvalidInputError(
            f"{what}={sr!r}: a sample rate must be a whole number of Hz, e.g. {what}=44100.",
            path="<array>", reason="sample_rate",
        )
    if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise InvalidInputError(
            f"{what}={int(value)}: a sample rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz "
            f"(e.g. {what}=44100).",
            path="<array>", reason="sample_rate",
        )
    return int(value)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding it all.

    Attributes
    ----------
    sr : int
        Native sample rate in Hz.
    channels : int
        Number of channels.
    duration_s : float or None
        Duration in seconds, when the container states it.
    decoder : str
        ``"soundfile"`` or ``"av"``: which backend reads this file.
    format : str
        Container / codec as the backend names it (e.g. ``"WAV/PCM_16"``, ``"mov,mp4,m4a/aac"``).
    """

    sr: int
    channels: int
    duration_s: float | None
    decoder: str
    format: str


def _describe(source: PathOrFile) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<file object>"


#: Names of the special files :func:`_check_path` refuses (reason ``special_file``).
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"),
)


def _check_path(source: PathOrFile) -> str:
    """Check a path exists, is a regular file and is not empty; return its description."""
    desc = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise AudioLoadError(
                f"{desc}: file not found. Check the path (relative paths are taken from {os.getcwd()}).",
                path=desc, reason="missing",
            )
        if p.is_dir():
            raise AudioLoadError(
                f"{desc}: is a directory, not an audio file. Pass a file, or use "
                "`aiaudio score DIR` to score every audio file in a folder.",
                path=desc, reason="directory",
            )
        try:
            st = p.stat()
        except OSError as e:  # pragma: no cover - permission races
            raise AudioLoadError(f"{desc}: cannot read the file ({e}).", path=desc, reason="unreadable") from e
        size = st.st_size
        if not stat.S_ISREG(st.st_mode):  # never opened: reading a FIFO blocks, a device never ends
            kind = next((k for test, k in _SPECIAL_KINDS if test(st.st_mode)), "special file")
            raise AudioLoadError(
                f"{desc}: is a {kind}, not a regular file; it was not opened. Pass an audio file.",
                path=desc, reason="special_file",
            )
        if size == 0:
            raise AudioLoadError(
                f"{desc}: the file is empty (0 bytes). Re-export or re-download it.",
                path=desc, reason="empty",
            )
        if not os.access(p, os.R_OK):
            raise AudioLoadError(
                f"{desc}: permission denied. Make the file readable.", path=desc, reason="unreadable"
            )
    else:
        if not hasattr(source, "read"):
            raise TypeError(
                f"expected a path or a binary file object, got {type(source).__name__}"
            )
    return desc


def _rewind(source: PathOrFile) -> None:
    if not isinstance(source, (str, os.PathLike)):
        try:
            source.seek(0)
        except Exception:  # pragma: no cover - unseekable streams
            pass


# --------------------------------------------------------------------------- backends


class _SoundfileReader:
    """Block reader over libsndfile."""

    name = "soundfile"

    def __init__(self, source: PathOrFile, desc: str):
        self.desc = desc
        self._source = source
        self._f = sf.SoundFile(source if isinstance(source, (str, os.PathLike)) else source)
        self.sr = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        self.frames = int(self._f.frames)
        self.format = f"{self._f.format}/{self._f.subtype}"
        if self._f.format == "MP3" and self._f.seekable() and not _decodes_a_start(self._f):
            # libmpg123 took a false frame sync in junk before the audio (or the first frames
            # are damaged) and decodes nothing: FFmpeg finds the stream
            self._f.close()
            raise _UseAnotherDecoder("libsndfile decodes nothing of this MP3", skip_damaged=True)
        if self.frames == 0 and self._f.format in ("WAV", "WAVEX") and _declares_no_data(self._f):
            # an older ffmpeg writing to a pipe leaves the data size 0; libsndfile then
            # reads nothing, FFmpeg reads to the end of the file
            self._f.close()
            raise _UseAnotherDecoder("WAV data size 0: read to the end of the file")
        self._check_truncation(source)

    def _check_truncation(self, source: PathOrFile) -> None:
        if self._f.format == "OGG" and _ogg_lacks_end(source):
            raise AudioLoadError(
                f"{self.desc}: truncated Ogg file (its last page is not marked end-of-stream). "
                "Re-export or re-download it.",
                path=self.desc, reason="corrupt",
            )
        # libsndfile silently clips the declared data length of a truncated
        # WAV/AIFF to what the file holds; its log tells the story.
        try:
            log = self._f.extra_info
        except Exception:  # pragma: no cover
            return
        # the first line names the file: "File : /music/truncated/x.wav" is no sign of damage
        low = "\n".join(ln for ln in log.lower().splitlines() if not ln.lstrip().startswith("file :"))
        if self._f.format == "OGG" and ("corrupted bitstream" in low or "reports a hole" in low or "hole found" in low):
            raise AudioLoadError(
                f"{self.desc}: corrupt Ogg data (libsndfile found a damaged or missing stretch). "
                "Re-export or re-download the file.",
                path=self.desc, reason="corrupt",
            )
        if self._f.format not in ("WAV", "WAVEX", "AIFF", "W64", "RF64"):
            return
        if self._f.format in ("WAV", "WAVEX"):
            low = _drop_streamed_wav_sizes(low)
        if "should be" in low or "truncat" in low or "too large" in low or "too big" in low:
            raise AudioLoadError(
                f"{self.desc}: truncated or corrupt {self._f.format} data (the header declares more "
                "audio than the file holds). Re-export or re-download the file.",
                path=self.desc, reason="corrupt",
            )

    @property
    def duration_s(self) -> float | None:
        return self.frames / self.sr if self.frames > 0 and self.sr > 0 else None

    def seek_frames(self, n: int) -> int:
        if self._f.seekable():
            self._f.seek(min(n, self.frames))
            return n
        return 0

    def blocks(self, blocksize: int) -> Iterator[np.ndarray]:
        start = self._f.tell() if self._f.seekable() else 0
        is_mp3 = self._f.format == "MP3"
        got = 0
        failure: str | None = None
        while True:
            try:
                data = self._f.read(blocksize, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                if is_mp3:  # libmpg123 gives up at a damaged frame; FFmpeg resyncs past it
                    failure = _short(e)
                    break
                raise AudioLoadError(
                    f"{self.desc}: corrupt audio data ({e}). Re-export or re-download the file.",
                    path=self.desc, reason="corrupt",
                ) from e
            got += data.shape[0]
            if data.shape[0]:
                yield np.ascontiguousarray(data.T)
            if data.shape[0] < blocksize:
                break
        # A compressed stream that ends early decodes "fine" to fewer samples than the
        # container declares (MP3 with a Xing/LAME header, Ogg): that is a damaged file.
        expected = self.frames - start
        short = expected > 0 and got < expected - _length_tolerance(expected)
        if is_mp3 and not short and failure is None and expected > 0 and got >= expected:
            # libsndfile reads an MP3 no further than its length, and without a length
            # header that length is an estimate from the first frame's bitrate: a VBR file
            # can hold far more (Suno files here: 64 s read of 88 s). Count FFmpeg's packets.
            short = _mp3_holds_more(self._source, start + got)
        if is_mp3 and (short or failure is not None):
            # An MP3 without a length header has no declared length: libsndfile estimates
            # it from the file size (tags and cover art included) and can overstate it by
            # many seconds; and libmpg123 stops at the first damaged frame. FFmpeg reads
            # on from where libsndfile stopped and decides (see _finish_mp3_with_ffmpeg).
            yield from _finish_mp3_with_ffmpeg(self._source, self.desc, start + got, blocksize,
                                               self.sr, self.channels, failure)
            return
        if short:
            raise AudioLoadError(
                f"{self.desc}: truncated or corrupt audio: decoded {got / self.sr:.2f} s of the "
                f"{expected / self.sr:.2f} s the file declares. Re-export or re-download it.",
                path=self.desc, reason="corrupt",
            )

    def close(self) -> None:
        self._f.close()


class _AvReader:
    """Block reader over FFmpeg (PyAV), for what libsndfile cannot read."""

    name = "av"

    def __init__(self, source: PathOrFile, desc: str, skip_damaged: bool = False):
        import av  # imported lazily: it costs start-up time and most files never need it

        self.desc = desc
        #: skip packets FFmpeg cannot decode (as the ``ffmpeg`` command does) instead of failing
        self.skip_damaged = skip_damaged
        #: samples (at the stream's rate) in the packets skipped as damaged
        self.lost_samples = 0
        #: packets skipped as damaged
        self.damaged_packets = 0
        #: samples decoded so far (at the stream's rate)
        self.decoded_samples = 0
        self._av = av
        src = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
        try:
            self._c = av.open(src, mode="r")
        except (av.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
            raise AudioLoadError(
                f"{desc}: not a readable audio file ({_short(e)}). Supported: WAV, FLAC, OGG/Vorbis, "
                "Opus, MP3, AAC/M4A and the other formats FFmpeg decodes.",
                path=desc, reason="not_audio",
            ) from e
        streams = [s for s in self._c.streams if s.type == "audio"]
        if not streams:
            self._c.close()
            raise AudioLoadError(
                f"{desc}: the file holds no audio stream (container {self._c.format.name!r}). "
                "Is it really an audio file?",
                path=desc, reason="not_audio",
            )
        self._s = streams[0]
        cc = self._s.codec_context
        self.sr = int(cc.sample_rate or 0)
        self.channels = int(cc.channels or 0)
        if self.sr <= 0 or self.channels <= 0:
            self._c.close()
            raise AudioLoadError(
                f"{desc}: the audio stream declares no sample rate or channel count; the file is "
                "corrupt or not audio.",
                path=desc, reason="not_audio",
            )
        self.format = f"{self._c.format.name}/{cc.name}"
        dur = None
        if self._s.duration is not None and self._s.time_base is not None:
            dur = float(self._s.duration * self._s.time_base)
        elif self._c.duration is not None:
            dur = self._c.duration / 1_000_000
        self._duration = dur if dur and dur > 0 else None

    @property
    def duration_s(self) -> float | None:
        return self._duration

    def seek_frames(self, n: int) -> int:
        return 0  # FFmpeg seeks are not sample-exact: the caller skips decoded frames instead

    def _frames(self) -> Iterator[np.ndarray]:
        av = self._av
        resampler = av.AudioResampler(format="fltp")
        try:
            for packet in self._c.demux(self._s):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    if not self.skip_damaged:
                        raise
                    self.damaged_packets += 1
                    if packet.duration and packet.time_base is not None:
                        self.lost_samples += int(round(float(packet.duration * packet.time_base) * self.sr))
                    continue
                for frame in frames:
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
        except av.FFmpegError as e:
            raise AudioLoadError(
                f"{self.desc}: corrupt audio data ({_short(e)}). Re-export or re-download the file.",
                path=self.desc, reason="corrupt",
            ) from e

    def blocks(self, blocksize: int) -> Iterator[np.ndarray]:
        buf: list[np.ndarray] = []
        have = 0
        for arr in self._frames():
            arr = np.asarray(arr, dtype=np.float32)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.shape[0] != self.channels:
                # channel count changed mid-stream (rare, e.g. broadcast captures): keep the first
                # layout by down- or up-mixing to it
                arr = _match_channels(arr, self.channels)
            buf.append(arr)
            have += arr.shape[1]
            while have >= blocksize:
                cat = np.concatenate(buf, axis=1)
                yield cat[:, :blocksize]
                rest = cat[:, blocksize:]
                buf = [rest] if rest.shape[1] else []
                have = rest.shape[1]
            self.decoded_samples += arr.shape[1]
        if have:
            yield np.concatenate(buf, axis=1)
        if self.skip_damaged and self.lost_samples > _length_tolerance(self.decoded_samples + self.lost_samples):
            raise AudioLoadError(
                f"{self.desc}: corrupt audio: {self.damaged_packets} damaged frames "
                f"({self.lost_samples / self.sr:.2f} s of audio) cannot be decoded. Re-export or "
                "re-download the file.",
                path=self.desc, reason="corrupt",
            )

    def close(self) -> None:
        self._c.close()


def _length_tolerance(n: int) -> float:
    """Samples a stream of ``n`` declared samples may fall short by before it counts as damaged."""
    return max(0.02 * n, 4096)


def _skip_id3v2(head: bytes) -> int:
    """Offset of the first byte after the ID3v2 tag(s) at the start of ``head`` (0 if none)."""
    pos = 0
    while head[pos : pos + 3] == b"ID3" and len(head) >= pos + 10:
        size = head[pos + 6 : pos + 10]
        if any(b & 0x80 for b in size):
            break  # not a syncsafe size: not a real tag
        n = (size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3]
        pos += 10 + n + (10 if head[pos + 5] & 0x10 else 0)  # footer flag
    return pos


def _mp3_states_length(source: PathOrFile) -> bool:
    """True when an MP3 has a length header: a Xing/Info header with a frame count, or VBRI.

    Without one (most CBR files, some VBR ones), neither libsndfile nor FFmpeg knows the
    length before decoding: both estimate it from the file size and a bitrate, and the
    estimate is no declaration a decoded length can fall short of.
    """
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                head = fh.read(10)
                if head[:3] == b"ID3":
                    fh.seek(0)
                    head = fh.read(_skip_id3v2(head + bytes(10)) + 65536 + 20)
                else:
                    head += fh.read(65536)
        else:
            pos = source.tell()
            source.seek(0)
            head = source.read(10)
            source.seek(0)
            head = source.read((_skip_id3v2(head) if head[:3] == b"ID3" else 0) + 65536 + 20)
            source.seek(pos)
    except (OSError, AttributeError, ValueError):
        return False
    i = _skip_id3v2(head)
    # the first frame header (11 sync bits) after the tags; the length header lives in it
    while i + 4 <= len(head) and not (head[i] == 0xFF and head[i + 1] & 0xE0 == 0xE0):
        i += 1
    frame = head[i : i + 200]
    for tag in (b"Xing", b"Info"):  # the Xing/LAME header: "Xing" in VBR files, "Info" in CBR
        j = frame.find(tag)
        if j >= 0 and j + 12 <= len(frame):
            # flags, bit 0: the frame count follows; an encoder that could not seek back
            # to fill it in leaves it 0, which states nothing
            return bool(frame[j + 7] & 0x01) and int.from_bytes(frame[j + 8 : j + 12], "big") > 0
    return frame.find(b"VBRI") >= 0


def _mp3_holds_more(source: PathOrFile, n: int) -> bool:
    """True when FFmpeg's packets of an MP3 hold clearly more than ``n`` samples (no decoding)."""
    import av

    _rewind(source)
    src = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
    total = 0.0
    try:
        with av.open(src, mode="r") as c:
            s = c.streams.audio[0]
            sr = s.codec_context.sample_rate or 0
            for pk in c.demux(s):
                if pk.duration and pk.time_base is not None:
                    total += float(pk.duration * pk.time_base) * sr
    except (av.FFmpegError, IndexError, ValueError, OSError):
        return False
    finally:
        if not isinstance(source, (str, os.PathLike)):
            try:
                source.seek(0, os.SEEK_END)
            except Exception:  # pragma: no cover
                pass
    return total > n + _length_tolerance(n)


def _finish_mp3_with_ffmpeg(
    source: PathOrFile, desc: str, done: int, blocksize: int, sr: int, channels: int, failure: str | None
) -> Iterator[np.ndarray]:
    """Go on decoding an MP3 with FFmpeg from sample ``done``, where libsndfile stopped.

    Damaged frames are skipped, as the ``ffmpeg`` command skips them. The file counts as
    truncated or corrupt only when FFmpeg agrees: it decodes less than the file's length
    header states (where it has one, see :func:`_mp3_states_length`), or the damaged
    frames it skips hold more than 2% of the audio (at least 4096 samples).
    """
    states_length = _mp3_states_length(source)
    _rewind(source)
    try:
        r = _AvReader(source, desc, skip_damaged=True)
    except AudioLoadError as e:
        raise AudioLoadError(
            f"{desc}: corrupt MP3 data (libsndfile: {failure or 'stopped early'}; FFmpeg cannot open "
            "it either). Re-export or re-download the file.",
            path=desc, reason="corrupt",
        ) from e
    try:
        if r.sr != sr:
            raise AudioLoadError(
                f"{desc}: corrupt MP3 data (libsndfile stopped at {done / sr:.2f} s; FFmpeg reads "
                f"{r.sr} Hz where libsndfile read {sr} Hz). Re-export or re-download the file.",
                path=desc, reason="corrupt",
            )
        total, skip = 0, done
        for blk in r.blocks(blocksize):
            total += blk.shape[1]
            if skip >= blk.shape[1]:
                skip -= blk.shape[1]
                continue
            blk = _match_channels(blk[:, skip:], channels)
            skip = 0
            yield np.ascontiguousarray(blk)
        declared = int(round(r.duration_s * sr)) if states_length and r.duration_s else None
        if declared is not None and total < declared - _length_tolerance(declared):
            raise AudioLoadError(
                f"{desc}: truncated or corrupt MP3: libsndfile and FFmpeg both decode less than its "
                f"length header states (FFmpeg {total / sr:.2f} s of {declared / sr:.2f} s). "
                "Re-export or re-download it.",
                path=desc, reason="corrupt",
            )
    finally:
        r.close()


class _UseAnotherDecoder(Exception):
    """libsndfile opened the file but another backend reads it better."""

    def __init__(self, msg: str, skip_damaged: bool = False):
        super().__init__(msg)
        self.skip_damaged = skip_damaged


def _decodes_a_start(f: sf.SoundFile) -> bool:
    """True when libsndfile decodes samples from the start of ``f`` (then rewound)."""
    try:
        ok = f.read(4096, dtype="float32", always_2d=True).shape[0] > 0
        f.seek(0)
        return ok
    except (sf.LibsndfileError, RuntimeError):
        return False


def _declares_no_data(f: sf.SoundFile) -> bool:
    try:
        log = f.extra_info
    except Exception:  # pragma: no cover
        return False
    return re.search(r"^\s*data\s*:\s*0\s*$", log, re.M | re.I) is not None


#: ``data`` chunk sizes a WAV writer leaves when it cannot seek back (pipes): ffmpeg
#: writes 0xFFFFFFFF (-1), others 0x7FFFFFFF; libsndfile then reads to the end of the file.
_STREAMED_WAV_SIZES = (0xFFFFFFFF, 0x7FFFFFFF)


def _drop_streamed_wav_sizes(log: str) -> str:
    """libsndfile's (lower-cased) WAV log without the lines about placeholder sizes.

    A WAV written to a pipe declares ``data : 4294967295 (should be N)``, and an odd
    placeholder also earns "should be an even number of bytes"; libsndfile reads such
    a file to its end. Those lines are no sign of truncation; a real size that promises
    more than the file holds still is.
    """
    lines = log.splitlines()
    streamed = any(
        re.match(rf"\s*data\s*:\s*{n}\b", line) for line in lines for n in _STREAMED_WAV_SIZES
    )
    if not streamed:
        return log
    keep = []
    for line in lines:
        if re.match(r"\s*data\s*:", line) or "even number of bytes" in line:
            continue
        if re.match(r"\s*riff\s*:", line) and "should be" in line:
            continue  # the RIFF size is a placeholder too (or was computed from the data one)
        keep.append(line)
    return "\n".join(keep)


def _ogg_lacks_end(source: PathOrFile) -> bool:
    """True when the last Ogg page of the file does not carry the end-of-stream flag.

    An Ogg stream ends with a page whose header-type byte has bit 0x04 set
    (RFC 3533); a file cut short ends in the middle of the stream instead.
    """
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 65536))
                tail = fh.read()
        else:
            pos = source.tell()
            source.seek(0, os.SEEK_END)
            size = source.tell()
            source.seek(max(0, size - 65536))
            tail = source.read()
            source.seek(pos)
    except (OSError, AttributeError, ValueError):
        return False
    i = tail.rfind(b"OggS")
    if i < 0 or i + 6 > len(tail):
        return False
    return not (tail[i + 5] & 0x04)


def _short(e: BaseException) -> str:
    strerror = getattr(e, "strerror", None)
    s = (strerror if isinstance(strerror, str) and strerror else str(e)).strip() or type(e).__name__
    return s if len(s) < 200 else s[:197] + "..."


def _match_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    if arr.shape[0] == channels:
        return arr
    mono = arr.mean(axis=0, keepdims=True)
    return np.repeat(mono, channels, axis=0)


def _open_reader(source: PathOrFile) -> _SoundfileReader | _AvReader:
    desc = _check_path(source)
    errors: list[str] = []
    skip_damaged = False
    try:
        return _SoundfileReader(source, desc)
    except AudioLoadError:
        raise
    except _UseAnotherDecoder as e:
        errors.append(f"libsndfile: {e}")
        skip_damaged = e.skip_damaged
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        errors.append(f"libsndfile: {_short(e)}")
    except Exception as e:  # soundfile can raise odd errors on garbage; never let them escape
        errors.append(f"libsndfile: {_short(e)}")
    _rewind(source)
    try:
        return _AvReader(source, desc, skip_damaged=skip_damaged)
    except AudioLoadError:
        raise
    except Exception as e:
        raise AudioLoadError(
            f"{desc}: not a readable audio file ({'; '.join(errors + [_short(e)])}).",
            path=desc, reason="not_audio",
        ) from e


# --------------------------------------------------------------------------- public API


def audio_info(path_or_file: PathOrFile) -> AudioInfo:
    """Read a file's sample rate, channel count and duration from its header.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        The audio file.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioLoadError
        If the file is missing, empty or not decodable audio.
    """
    r = _open_reader(path_or_file)
    try:
        return AudioInfo(r.sr, r.channels, r.duration_s, r.name, r.format)
    finally:
        r.close()


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality).

    Parameters
    ----------
    y : np.ndarray
        Samples, shape ``(samples,)`` or ``(channels, samples)``.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray
        ``float32`` samples at ``target_sr``, same leading shape.
    """
    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    y = np.asarray(y, dtype=np.float32)
    if y.shape[-1] == 0:
        return y
    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(y.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, y.shape[0]).T)


def to_mono(y: np.ndarray) -> np.ndarray:
    """Down-mix ``(channels, samples)`` to ``(1, samples)`` by the plain mean of all channels.

    Every channel gets equal weight (an LFE channel of a 5.1 file too); this keeps
    a mono file unchanged and a stereo file at ``(L + R) / 2``.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return y[None, :]
    if y.shape[0] == 1:
        return y
    return y.mean(axis=0, keepdims=True, dtype=np.float32)


def is_silent(y: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the RMS level of ``y`` is below ``threshold_dbfs`` (dB re full scale)."""
    a = np.asarray(y, dtype=np.float64)
    if a.size == 0:
        return True
    rms = math.sqrt(float(np.mean(a * a)))
    return rms <= 10 ** (threshold_dbfs / 20)


class AudioStream:
    """An open audio file read block by block; memory stays flat in file length.

    Use :func:`stream_audio` to make one. Iterating yields ``float32`` arrays of shape
    ``(channels, n)`` at the output rate :attr:`sr`, each ``block_s`` seconds long
    except the last. Use as a context manager, or call :meth:`close`.

    Attributes
    ----------
    sr : int
        Sample rate (Hz) of the yielded blocks.
    native_sr : int
        Sample rate (Hz) of the file.
    channels : int
        Channels of the yielded blocks (1 with ``mono=True``).
    duration_s : float or None
        Duration (s) stated by the file header, if any.
    path : str
        The file's description, for messages.
    truncated : bool
        After iterating: reading stopped at ``duration`` although the file holds more.

    Raises
    ------
    AudioLoadError
        As :func:`stream_audio`.
    """

    def __init__(
        self,
        source: PathOrFile,
        sr: int | None = None,
        mono: bool = False,
        block_s: float = 30.0,
        offset: float = 0.0,
        duration: float | None = None,
    ):
        if block_s <= 0:
            raise ValueError(f"block_s must be positive, got {block_s}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0 s, got {offset}")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be positive, got {duration}")
        if sr is not None:
            sr = check_sample_rate(sr)
        self._r = _open_reader(source)
        self.path = self._r.desc
        self.native_sr = self._r.sr
        if not MIN_SAMPLE_RATE <= self.native_sr <= MAX_SAMPLE_RATE:
            self._r.close()
            raise AudioLoadError(
                f"{self.path}: the file declares a sample rate of {self.native_sr} Hz; aiaudio reads "
                f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. The header is damaged or the file is not "
                "ordinary audio: re-export it at a standard rate (e.g. 44100 Hz).",
                path=self.path, reason="bad_sample_rate",
            )
        self.sr = sr if sr is not None else self.native_sr
        self.mono = mono
        self.channels = 1 if mono else self._r.channels
        self.duration_s = self._r.duration_s
        self.decoder = self._r.name
        self.format = self._r.format
        self._block_native = max(1, int(round(block_s * self.native_sr)))
        self._skip = int(round(offset * self.native_sr))
        self._limit = None if duration is None else int(round(duration * self.native_sr))
        self._iterated = False
        #: True once reading stopped at ``duration`` with more audio left in the file.
        self.truncated = False
        # called with every native-rate block (before down-mixing), e.g. to keep the start
        self._tap: Callable[[np.ndarray], None] | None = None

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._r.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeError("an AudioStream can be iterated once; open a new one with stream_audio()")
        self._iterated = True
        return self._blocks()

    def _native_blocks(self) -> Iterator[np.ndarray]:
        skip = self._skip - self._r.seek_frames(self._skip) if self._skip else 0
        remaining = self._limit
        for blk in self._r.blocks(self._block_native):
            if skip:
                if blk.shape[1] <= skip:
                    skip -= blk.shape[1]
                    continue
                blk = blk[:, skip:]
                skip = 0
            if remaining is not None:
                if remaining <= 0:
                    self.truncated = blk.shape[1] > 0
                    return
                if blk.shape[1] > remaining:
                    self.truncated = True
                blk = blk[:, :remaining]
                remaining -= blk.shape[1]
            yield blk

    def _blocks(self) -> Iterator[np.ndarray]:
        rs = None
        if self.sr != self.native_sr:
            rs = soxr.ResampleStream(self.native_sr, self.sr, self.channels, dtype="float32", quality="HQ")
        total = 0
        pending: np.ndarray | None = None
        for blk in self._native_blocks():
            n_bad = blk.size - int(np.count_nonzero(np.isfinite(blk)))
            if n_bad:
                raise AudioLoadError(
                    f"{self.path}: {n_bad} samples near {total / self.native_sr:.1f} s are NaN or "
                    "infinite; the file is damaged. Re-export it from the source.",
                    path=self.path, reason="nonfinite",
                )
            total += blk.shape[1]
            if self._tap is not None:
                self._tap(blk)
            if self.mono:
                blk = to_mono(blk)
            if rs is not None:
                out = rs.resample_chunk(np.ascontiguousarray(blk.T), last=False)
                blk = np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, self.channels).T)
            # yield with one block of delay so the resampler's tail joins the last block
            if pending is not None and pending.shape[1]:
                yield pending
            pending = blk
        if total == 0:
            raise AudioLoadError(
                f"{self.path}: the file decodes to zero audio samples (empty or truncated). "
                "Re-export or re-download it.",
                path=self.path, reason="empty",
            )
        if rs is not None:
            tail = rs.resample_chunk(np.zeros((0, self.channels), dtype=np.float32), last=True)
            tail = np.asarray(tail, dtype=np.float32).reshape(-1, self.channels).T
            pending = tail if pending is None else np.concatenate([pending, tail], axis=1)
        if pending is not None and pending.shape[1]:
            yield np.ascontiguousarray(pending)


def stream_audio(
    path_or_file: PathOrFile,
    sr: int | None = None,
    mono: bool = False,
    block_s: float = 30.0,
    offset: float = 0.0,
    duration: float | None = None,
) -> AudioStream:
    """Open an audio file for reading in blocks of ``block_s`` seconds.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        The audio file.
    sr : int, optional
        Output sample rate in Hz (``MIN_SAMPLE_RATE`` to ``MAX_SAMPLE_RATE``); ``None``
        keeps the file's rate. Resampling is streamed (soxr), so blocks join without seams.
    mono : bool
        Down-mix to one channel (plain mean of all channels, see :func:`to_mono`).
    block_s : float
        Block length in seconds (at the file's rate; the last block may be shorter).
    offset : float
        Start reading this many seconds into the file.
    duration : float, optional
        Read at most this many seconds.

    Returns
    -------
    AudioStream
        Iterate it for ``float32`` blocks of shape ``(channels, n)``.

    Raises
    ------
    AudioLoadError
        When the file cannot be opened (at call time), declares a sample rate outside
        ``MIN_SAMPLE_RATE``-``MAX_SAMPLE_RATE`` (``reason="bad_sample_rate"``, at call
        time), or is found damaged while reading. :class:`~aiaudio.InvalidInputError`
        (a subclass) for an ``sr`` that is not a whole number of Hz in that range.
    """
    return AudioStream(path_or_file, sr=sr, mono=mono, block_s=block_s, offset=offset, duration=duration)


def load_audio(
    path_or_file: PathOrFile,
    sr: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode an audio file into memory.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        WAV (8/16/24/32-bit integer, 32/64-bit float), FLAC, OGG/Vorbis, Opus, MP3,
        AAC/M4A, and whatever else libsndfile or FFmpeg can decode.
    sr : int, optional
        Target sample rate in Hz; ``None`` (default) keeps the native rate.
    mono : bool
        Down-mix to one channel by the plain mean of all channels.
    offset : float
        Start this many seconds into the file.
    duration : float, optional
        Read at most this many seconds.

    Returns
    -------
    y : np.ndarray
        ``float32`` samples, shape ``(channels, samples)`` (``(1, samples)`` with ``mono=True``).
    sr : int
        Sample rate of ``y`` in Hz.

    Raises
    ------
    AudioLoadError
        Missing file, directory, empty or zero-length file, truncated or corrupt
        data, non-audio content, NaN or infinite samples, a sample rate outside
        ``MIN_SAMPLE_RATE``-``MAX_SAMPLE_RATE`` (1 kHz-768 kHz). The message names the
        file and the cause. Silence is *not* an error (see :func:`is_silent`).
    """
    block_s = 60.0 if duration is None else max(0.05, min(60.0, duration))  # short reads decode little
    with stream_audio(path_or_file, sr=sr, mono=mono, block_s=block_s, offset=offset, duration=duration) as st:
        blocks = list(st)
        out_sr = st.sr
        ch = st.channels
    y = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    assert y.shape[0] == ch
    return np.ascontiguousarray(y, dtype=np.float32), out_sr


# --------------------------------------------------------------------------- writing / encoding

#: Output formats :func:`encode_audio` makes through FFmpeg: name -> (container, codec).
_AV_FORMATS = {
    "mp3": ("mp3", "libmp3lame"),
    "m4a": ("ipod", "aac"),
    "aac": ("adts", "aac"),
    "opus": ("ogg", "libopus"),
    "webm": ("webm", "libopus"),
}
#: Sample rates Opus accepts (Hz); other rates are resampled to 48 kHz first.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encode_audio(y: np.ndarray, sr: int, fmt: str, bitrate: int | None = None, options: dict[str, str] | None = None) -> bytes:
    """Encode samples with a lossy codec in memory (FFmpeg through PyAV).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(samples,)`` or ``(channels, samples)`` with 1 or 2 channels, float in [-1, 1].
    sr : int
        Sample rate (Hz). Opus only takes 8/12/16/24/48 kHz: other rates are resampled to 48 kHz.
    fmt : str
        ``"mp3"`` (LAME), ``"m4a"`` (AAC in MP4), ``"aac"`` (ADTS), ``"opus"`` (Ogg) or ``"webm"`` (Opus in WebM).
    bitrate : int, optional
        Target bit rate in bit/s (e.g. ``128_000``); the codec default when ``None``.
    options : dict, optional
        FFmpeg encoder options, e.g. ``{"compression_level": "7"}`` for a faster LAME.

    Returns
    -------
    bytes
        The encoded file, readable by :func:`load_audio` through a ``BytesIO``.
    """
    import av

    if fmt not in _AV_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(_AV_FORMATS)}")
    container_fmt, codec = _AV_FORMATS[fmt]
    y = validate_samples(y)
    if y.shape[0] > 2:
        y = to_mono(y)
    if codec == "libopus" and sr not in _OPUS_RATES:
        y = resample(y, sr, 48000)
        sr = 48000
    layout = "mono" if y.shape[0] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_fmt) as c:
        st = c.add_stream(codec, rate=int(sr), layout=layout, options=dict(options or {}))
        if bitrate:
            st.bit_rate = int(bitrate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(y, -1, 1), dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = int(sr)
        frame.pts = 0
        for pkt in st.encode(frame):
            c.mux(pkt)
        for pkt in st.encode(None):
            c.mux(pkt)
    return buf.getvalue()


def write_audio(path: str | os.PathLike[str], y: np.ndarray, sr: int, bitrate: int | None = None, subtype: str | None = None) -> None:
    """Write samples to a file; the format follows the extension.

    WAV, FLAC, OGG (Vorbis), AIFF go through libsndfile (``subtype`` e.g. ``"PCM_24"``,
    ``"FLOAT"``); MP3, M4A, AAC, Opus and WebM through FFmpeg (``bitrate`` in bit/s).

    Parameters
    ----------
    path : path
        Output file; its extension picks the format.
    y : np.ndarray
        ``(samples,)`` or ``(channels, samples)``.
    sr : int
        Sample rate (Hz).
    """
    ext = Path(path).suffix.lower().lstrip(".")
    if ext in _AV_FORMATS:
        Path(path).write_bytes(encode_audio(y, sr, ext, bitrate))
        return
    y = validate_samples(y)
    sf.write(os.fspath(path), y.T, int(sr), subtype=subtype)

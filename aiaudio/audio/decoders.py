"""The two decoders behind every reader: libsndfile (:mod:`soundfile`) and FFmpeg (PyAV), and the checks
that decide when FFmpeg reads on where libsndfile stops (damaged or mis-sized MP3, streamed WAV, Ogg).
"""

from __future__ import annotations

import os
import re
from typing import Iterator

import numpy as np
import soundfile as sf

from ..errors import AudioLoadError
from ._common import PathOrFile, _check_path, _rewind


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
                yield data.T  # (channels, n): a view of the interleaved frames (AudioStream copies where rows must be contiguous)
            if data.shape[0] < blocksize:
                break
        # A compressed stream that ends early decodes "fine" to fewer samples than the
        # container declares (MP3 with a Xing/LAME header, Ogg): that is a damaged file.
        expected = self.frames - start
        short = expected > 0 and got < expected - _length_tolerance(expected)
        if is_mp3 and not short and failure is None and expected > 0 and got >= expected and not _mp3_states_length(self._source):
            # libsndfile reads an MP3 no further than its length, and without a length
            # header that length is an estimate from the first frame's bitrate: a VBR file
            # can hold far more (Suno files here: 64 s read of 88 s). Count FFmpeg's packets.
            # With a length header (Xing/Info frame count, VBRI) the length is the file's
            # own and was read to its end: no second pass over the file.
            short = _mp3_holds_more(self._source, start + got)
        if is_mp3 and (short or failure is not None):
            # An MP3 without a length header has no declared length: libsndfile estimates
            # it from the file size (tags and cover art included) and can overstate it by
            # many seconds; and libmpg123 stops at the first damaged frame. FFmpeg reads
            # on from where libsndfile stopped and decides (see _finish_mp3_with_ffmpeg).
            if not ffmpeg_available():
                if failure is None and not _mp3_states_length(self._source):
                    return  # no length header: without FFmpeg what libsndfile decoded is all there is to go on
                raise AudioLoadError(
                    f"{self.desc}: truncated or corrupt MP3: libsndfile "
                    f"{'stopped at a damaged frame (' + failure + ')' if failure else 'decodes less than its length header states'}"
                    f" after {got / self.sr:.2f} s. FFmpeg can read on past damaged frames: {FORMATS_HINT}",
                    path=self.desc, reason="corrupt",
                )
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
    """True when FFmpeg's packets of an MP3 hold clearly more than ``n`` samples (no decoding;
    False without FFmpeg)."""
    if not ffmpeg_available():
        return False
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


#: How to get FFmpeg, for the messages of files that need it.
FORMATS_HINT = 'install PyAV with pip install "aiaudio[formats]"'


def ffmpeg_available() -> bool:
    """Whether FFmpeg (PyAV, the ``formats`` extra) is installed; checked without importing it.

    Without it, files libsndfile cannot read (M4A/AAC, WMA, video containers) fail with
    ``reason="needs_ffmpeg"``, damaged MP3s are not read past the damage, and MP3s are written
    by libsndfile's LAME (:func:`~aiaudio.audio.write_audio`).
    """
    from ..errors import installed

    return installed("av")


#: Signatures of containers libsndfile cannot read: (offset, bytes, name). libsndfile picks its
#: MP3 reader by the file name too, and mpg123 resyncs on whatever bytes look like an MPEG frame,
#: so an M4A named ``.mp3`` could "open" as MPEG layer I with a made-up length (and fail to seek).
FOREIGN_CONTAINERS: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/M4A (ISO base media)"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMA"),
    (0, b"ADIF", "AAC (ADIF)"),
)


def _foreign_container(source: PathOrFile) -> str | None:
    """The name of the container ``source`` starts with when it is one libsndfile cannot read
    (:data:`FOREIGN_CONTAINERS`), else None. The file object's position is kept."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                head = fh.read(16)
        else:
            pos = source.tell()
            source.seek(0)
            head = source.read(16)
            source.seek(pos)
    except (OSError, AttributeError, ValueError):
        return None
    for offset, magic, name in FOREIGN_CONTAINERS:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def _open_reader(source: PathOrFile) -> _SoundfileReader | _AvReader:
    desc = _check_path(source)
    errors: list[str] = []
    skip_damaged = False
    foreign = _foreign_container(source)
    if foreign is not None:  # whatever its name says: FFmpeg's, from the first byte
        errors.append(f"libsndfile: the file is {foreign}, which libsndfile does not read")
    else:
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
    if not ffmpeg_available():
        raise AudioLoadError(
            f"{desc}: libsndfile cannot read this file ({'; '.join(errors)}), and FFmpeg, which reads "
            "M4A/AAC, WMA, video containers and damaged files, is not installed. libsndfile reads WAV, "
            f"FLAC, Ogg/Vorbis, Opus and MP3; if this is audio in another format, {FORMATS_HINT}.",
            path=desc, reason="needs_ffmpeg",
        )
    try:
        return _AvReader(source, desc, skip_damaged=skip_damaged)
    except AudioLoadError:
        raise
    except Exception as e:
        raise AudioLoadError(
            f"{desc}: not a readable audio file ({'; '.join(errors + [_short(e)])}).",
            path=desc, reason="not_audio",
        ) from e



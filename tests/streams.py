"""Adaptive test streams made by Debian's ffmpeg from its own test sources (testsrc2 + sine):
nothing binary is committed, everything is generated into ``build/streams/`` (outside git) and
reused while its recipe is unchanged. The emulator's site serves that folder as ``/streams/``.

    .venv/bin/python -m tests.streams          # make the VOD streams now (the tests do it on demand)
    .venv/bin/python -m tests.streams --live   # and write the live stream until Ctrl-C (live.html)

- ``vod/master.m3u8``: HLS, three renditions (RENDITIONS: distinct bandwidths and sizes), MPEG-TS
  segments of SEGMENT seconds, every segment starting on a key frame;
- ``dash/manifest.mpd``: the same three renditions (the same encodes, repackaged) as DASH;
- ``live/index.m3u8``: written while a test runs (``LiveStream``): ffmpeg encodes in real time
  (``-re``) into a sliding window of LIVE_WINDOW segments, deleting the older ones, each carrying
  its wall-clock time (EXT-X-PROGRAM-DATE-TIME).

Encodes are small and short on purpose (x264 ultrafast, VOD_SECONDS seconds): generation takes a
few seconds on a 2-core machine (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tests.helpers import ROOT, stop_process

FFMPEG = "/usr/bin/ffmpeg"
STREAMS = ROOT / "build" / "streams"
VOD_SECONDS = 40
SEGMENT = 2  # seconds per segment; a key frame starts each one
FPS = 24


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    video_bps: int  # what x264 is held to (CBR-like: segment sizes match what the manifest declares)


RENDITIONS = (Rendition(320, 180, 250_000), Rendition(640, 360, 800_000), Rendition(960, 540, 2_000_000))
AUDIO_BPS = 64_000
LIVE_WINDOW = 10  # segments in the live playlist (room to seek back behind the live edge)
LIVE_SEGMENT = 1

# The recipe: a change to any of these makes the cached streams stale.
_RECIPE = json.dumps([VOD_SECONDS, SEGMENT, FPS, [vars(r) for r in RENDITIONS], AUDIO_BPS, 3])


def _source(seconds: float | None) -> list[str]:
    """ffmpeg's own test pattern (a moving clock and colour bars) and a tone, as inputs."""
    length = f":d={seconds}" if seconds else ""
    return ["-f", "lavfi", "-i", f"testsrc2=size=960x540:rate={FPS}{length}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000{length}"]


def _x264(bps: int, gop_seconds: int) -> list[str]:
    gop = str(FPS * gop_seconds)
    return ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
            "-pix_fmt", "yuv420p", "-b:v", str(bps), "-maxrate", str(bps), "-bufsize", str(bps),
            "-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]


def _run(args: list[str]) -> None:
    if not Path(FFMPEG).exists():
        raise RuntimeError(f"{FFMPEG} is missing: install Debian's ffmpeg (`make test` does it)")
    done = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr[-2000:]}")


def ensure_vod(root: Path = STREAMS) -> Path:
    """The VOD HLS and DASH streams under ``root`` (made now unless already made by this recipe)."""
    stamp = root / "vod.recipe"
    digest = hashlib.sha256(_RECIPE.encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return root
    work = root / "encodes"
    for folder in (work, root / "vod", root / "dash"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    # One encode per rendition (one ffmpeg run, the source decoded once), then both packagings
    # copy the same streams: the HLS and DASH renditions are the same bytes.
    split = f"[0:v]split={len(RENDITIONS)}" + "".join(f"[s{i}]" for i in range(len(RENDITIONS))) + ";" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(RENDITIONS))
    outputs: list[str] = []
    for i, rendition in enumerate(RENDITIONS):
        outputs += ["-map", f"[v{i}]", "-map", "1:a", *_x264(rendition.video_bps, SEGMENT),
                    "-c:a", "aac", "-b:a", str(AUDIO_BPS), str(work / f"r{i}.mp4")]
    _run([*_source(VOD_SECONDS), "-filter_complex", split, *outputs])
    inputs = [arg for i in range(len(RENDITIONS)) for arg in ("-i", str(work / f"r{i}.mp4"))]
    maps = [arg for i in range(len(RENDITIONS)) for arg in ("-map", f"{i}:v", "-map", f"{i}:a")]
    _run([*inputs, *maps, "-c", "copy", "-f", "hls", "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
          "-hls_flags", "independent_segments", "-master_pl_name", "master.m3u8",
          "-var_stream_map", " ".join(f"v:{i},a:{i}" for i in range(len(RENDITIONS))),
          "-hls_segment_filename", str(root / "vod" / "r%v" / "seg%03d.ts"), str(root / "vod" / "r%v" / "index.m3u8")])
    video_maps = [arg for i in range(len(RENDITIONS)) for arg in ("-map", f"{i}:v")]
    _run([*inputs, *video_maps, "-map", "0:a", "-c", "copy", "-f", "dash", "-seg_duration", str(SEGMENT),
          "-use_template", "1", "-use_timeline", "0", "-adaptation_sets", "id=0,streams=v id=1,streams=a",
          "-init_seg_name", "init-$RepresentationID$.m4s",
          "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s", str(root / "dash" / "manifest.mpd")])
    shutil.rmtree(work)
    stamp.write_text(digest)
    return root


class LiveStream:
    """A live HLS stream that ffmpeg writes in real time while it runs: a sliding window of
    LIVE_WINDOW one-second segments (older ones deleted), with program date-times."""

    def __init__(self, root: Path = STREAMS, name: str = "live") -> None:
        self.folder = root / name
        self.playlist = self.folder / "index.m3u8"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def start(self, *, ready_segments: int = 3, timeout: float = 30.0) -> LiveStream:
        """Start ffmpeg and wait until the playlist holds ``ready_segments`` segments."""
        if not Path(FFMPEG).exists():
            raise RuntimeError(f"{FFMPEG} is missing: install Debian's ffmpeg (`make test` does it)")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._log = (self.folder.parent / f"{self.folder.name}.log").open("wb")  # ffmpeg's complaints
        rendition = RENDITIONS[1]
        self.process = subprocess.Popen(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", *_source(None),
             "-map", "0:v", "-map", "1:a", "-vf", f"scale={rendition.width}:{rendition.height}",
             *_x264(rendition.video_bps, LIVE_SEGMENT), "-c:a", "aac", "-b:a", str(AUDIO_BPS),
             "-f", "hls", "-hls_time", str(LIVE_SEGMENT), "-hls_list_size", str(LIVE_WINDOW),
             "-hls_flags", "delete_segments+program_date_time+independent_segments+temp_file",
             "-hls_segment_filename", str(self.folder / "seg%06d.ts"), str(self.playlist)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + timeout
        while self.segments() < ready_segments:
            if self.process.poll() is not None:
                self._log.close()
                log = Path(str(self._log.name)).read_text(errors="replace")
                raise RuntimeError(f"live ffmpeg exited: {log[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the live playlist had no {ready_segments} segments within {timeout} s")
            time.sleep(0.2)
        return self

    def segments(self) -> int:
        try:
            return self.playlist.read_text().count("#EXTINF")
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


if __name__ == "__main__":
    import sys

    started = time.monotonic()
    ensure_vod()
    print(f"streams ready in {STREAMS} ({time.monotonic() - started:.1f} s)")
    if "--live" in sys.argv[1:]:
        live = LiveStream().start()
        print(f"live: writing {live.playlist} (Ctrl-C stops)")
        try:
            assert live.process is not None
            live.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            live.stop()

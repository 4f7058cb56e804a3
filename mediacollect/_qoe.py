"""The QoE meter (spec §3.8): bitrate, frame rate, dropped frames and time to start, as the
``Qoe`` values that ride on play, bitrateChange and error."""

from __future__ import annotations

from dataclasses import replace

from ._events import Observation, PlayerEvent, Qoe

FPS_WINDOW = 2.0  # seconds of playback a frame-rate measurement spans
MAX_FPS = 240


class QoeMeter:
    def __init__(self) -> None:
        self.values = Qoe()
        self.content_started = False  # the session's first content play was sent
        self._play_request_ts: int | None = None
        self._time_to_start: int | None = None
        self._frames_mark: tuple[int, float] | None = None  # (frames decoded, playhead) when measuring began

    def observe(self, obs: Observation, *, playing_content: bool) -> None:
        if obs.dropped_frames is not None:
            self.values = replace(self.values, dropped_frames=obs.dropped_frames)
        if obs.total_frames is not None:
            self._measure_frame_rate(obs.event, obs.total_frames, obs.playhead, playing_content)

    def _measure_frame_rate(self, event: PlayerEvent, total: int, playhead: float, playing_content: bool) -> None:
        """Frames decoded per second of content played, over at least FPS_WINDOW seconds of
        uninterrupted playback (a seek, an ad or a pause starts a new measurement)."""
        mark = self._frames_mark
        if not playing_content or event is not PlayerEvent.TIMEUPDATE:
            self._frames_mark = None
            return
        if mark is None or total < mark[0] or not 0 <= playhead - mark[1] <= FPS_WINDOW * 4:
            self._frames_mark = (total, playhead)
            return
        frames, played = total - mark[0], playhead - mark[1]
        if played >= FPS_WINDOW:
            if frames > 0:
                self.values = replace(self.values, frames_per_second=max(1, min(MAX_FPS, round(frames / played))))
            self._frames_mark = (total, playhead)

    def play_requested(self, ts: int) -> None:
        """The viewer asked to play (a session opens): time to start counts from here."""
        self._play_request_ts = ts
        self._time_to_start = None

    def first_frame(self, ts: int) -> None:
        if self._time_to_start is None and self._play_request_ts is not None:
            self._time_to_start = max(0, ts - self._play_request_ts)

    def update(self, *, bitrate: int | None, frames_per_second: float | None, dropped_frames: int | None) -> bool:
        """New values from the integrator; True when the bitrate changed (a bitrateChange, §4.8)."""
        changed = bitrate is not None and bitrate != self.values.bitrate
        self.values = replace(
            self.values,
            bitrate=self.values.bitrate if bitrate is None else int(bitrate),
            frames_per_second=self.values.frames_per_second if frames_per_second is None else round(frames_per_second),
            dropped_frames=self.values.dropped_frames if dropped_frames is None else int(dropped_frames),
        )
        return changed

    def current(self) -> Qoe:
        """The values as they are, without error details."""
        return replace(self.values, error_id=None, error_source=None)

    def for_play(self, *, content: bool) -> Qoe:
        """What a play carries; the session's first content play also carries time to start."""
        qoe = self.current()
        if content and not self.content_started:
            self.content_started = True
            qoe = replace(qoe, time_to_start=self._time_to_start)
        return qoe

    def error(self, error_id: str, source: str) -> Qoe:
        return replace(self.current(), error_id=error_id, error_source=source)

    def forget_media(self) -> None:
        """Other content plays now: nothing measured so far describes it."""
        self.values = Qoe()
        self._frames_mark = None

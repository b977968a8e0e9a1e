"""Sealed segments kept after Redis acknowledged them, for a replay after a Redis restart.

Why: Redis with AOF fsyncs once a second, and a Redis that only snapshots loses minutes of
writes, so a restart can lose writes it had acknowledged. Keeping this writer's recent
segments (the last ``REPLAY_WINDOW_S`` seconds, within ``REPLAY_SHARE`` of the spool's
size) lets recovery put them back; the scripts' high-water marks make that exactly-once.
"""

from __future__ import annotations

from collector.durable.spool import Spool

REPLAY_WINDOW_S = 300.0
# ... within this share of the spool's size, so retention never crowds out real spooling.
REPLAY_SHARE = 0.25


class Retention:
    """This writer's sealed segments: (name, highest sequence in it, when it was sealed)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._sealed: list[tuple[str, int, float]] = []

    def seal(self, name: str | None, top: int, now: float) -> None:
        """Track a segment ``Spool.rotate`` just sealed (None: there was none open)."""
        if name is not None:
            self._sealed.append((name, top, now))

    def confirmed(self, acked: int) -> set[str]:
        """Segments whose every record Redis has acknowledged."""
        return {seg for seg, seg_top, _ in self._sealed if seg_top <= acked}

    def prune(self, acked: int, now: float) -> None:
        """Drop acknowledged segments past the replay window or beyond the byte budget."""
        budget = REPLAY_SHARE * self.spool.max_bytes
        kept = 0
        keep = []
        for seg, seg_top, sealed_at in reversed(self._sealed):  # newest first
            size = self.spool.size(seg)
            acked_all = seg_top <= acked
            if acked_all and (now - sealed_at > REPLAY_WINDOW_S or kept + size > budget):
                self.spool.discard(seg)
            else:
                kept += size
                keep.append((seg, seg_top, sealed_at))
        self._sealed = keep[::-1]

"""Golden model of the NMPU's input framing (DESIGN 3.4): which beats it processes.

Every input beat names its position: ``first``/``last`` of its phase and its
``phase`` and ``beat`` index. Mirrors ``hw.nmpu.NMPU`` exactly:

* a beat whose flags agree with the position it names, and that names the
  first beat of phase 0, starts a vector (always: this is how the unit
  resynchronises); if the previous vector was unfinished while in sync,
  that is a framing error;
* in sync, any other beat must be exactly the expected next one; if not, it is
  a framing error, the beat is dropped and sync is lost;
* out of sync, beats are dropped silently until a vector start.

The outputs follow: a processed beat of the last phase produces one output
beat (its columns, from the vector's processed phases), so a vector broken in
its last phase has emitted the beats before the break and no more, and a
vector broken earlier emits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    """What an input beat says about itself."""

    first: bool
    last: bool
    phase: int
    beat: int


@dataclass(frozen=True)
class Framing:
    """The unit's reading of a beat sequence.

    Members
    -------
    vector : list of int or None
        Per input beat: the index (from 0, in start order) of the vector it was
        processed as part of, or None when it was dropped.
    errors : list of int
        Input beat indices at which ``frame_error`` is raised.
    """

    vector: list
    errors: list


def frame(phases: int, beats: int, positions) -> Framing:
    """The processed/dropped decision of every beat of ``positions``, from reset (in sync)."""
    beat = phase = 0
    synced = True
    current = -1
    vector, errors = [], []
    for n, p in enumerate(positions):
        pos_ok = (
            p.first == (p.beat == 0)
            and p.last == (p.beat == beats - 1)
            and 0 <= p.beat < beats
            and 0 <= p.phase < phases
        )
        is_start = pos_ok and p.beat == 0 and p.phase == 0
        expected = pos_ok and p.beat == beat and p.phase == phase
        process = is_start or (synced and expected)
        if synced and ((is_start and (beat, phase) != (0, 0)) or not process):
            errors.append(n)
        synced = process
        if is_start:
            current += 1
        vector.append(current if process else None)
        if process:  # the position after the one the beat names
            beat, phase = p.beat + 1, p.phase
            if beat == beats:
                beat, phase = 0, (p.phase + 1) % phases
    return Framing(vector, errors)

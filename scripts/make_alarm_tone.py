"""Writes resources/sounds/alarm.wav: the emergency alert's tone (generated here, no sample from anywhere).

Two alternating tones (960 Hz and 770 Hz, 0.25 s each, twice: 1 s), 16-bit mono at 22,050 Hz,
with 5 ms fades so nothing clicks. Run again only to change the tone:
    python scripts/make_alarm_tone.py
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE_HZ = 22_050
TONES_HZ = (960.0, 770.0, 960.0, 770.0)
TONE_S = 0.25
FADE_S = 0.005
AMPLITUDE = 0.6
OUT = Path(__file__).resolve().parents[1] / "resources" / "sounds" / "alarm.wav"


def samples() -> list[int]:
    out: list[int] = []
    n = int(RATE_HZ * TONE_S)
    fade = int(RATE_HZ * FADE_S)
    for f in TONES_HZ:
        for i in range(n):
            env = min(1.0, i / fade, (n - 1 - i) / fade)
            out.append(int(32767 * AMPLITUDE * env * math.sin(2 * math.pi * f * i / RATE_HZ)))
    return out


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(OUT), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples()))
    sys.stdout.write(f"wrote {OUT} ({OUT.stat().st_size} bytes)\n")


if __name__ == "__main__":
    main()

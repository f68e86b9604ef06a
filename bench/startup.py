"""startup_s: the real console app on embedded defaults, launch -> first live units drawn.

Runs `cartrack-desktop --data-dir <fresh> --duration 20 --screenshot <png>` and timestamps
its INFO log lines as they arrive on stderr. The app saves the screenshot 0.8 s after the
page first reports drawn units, so startup_s = launch -> "screenshot saved" - 0.8 s (an upper
bound: it still includes grabbing and encoding the PNG). Then the app is sent SIGTERM, and we
check that it exits cleanly and leaves no embedded server behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from .common import Metric, rnd

SCREENSHOT_DELAY_S = 0.8
TIMEOUT_S = 90.0
EVENTS = {
    "window_shown": "window shown after",
    "map_page_ready": "map page ready",
    "startup_finished": "start-up finished after",
    "screenshot_saved": "screenshot saved",
}


def run(workdir: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    workdir.mkdir(parents=True, exist_ok=True)
    data, shot = workdir / "data", workdir / "shot.png"
    exe = Path(sys.executable).with_name("cartrack-desktop")
    cmd = [str(exe), "--data-dir", str(data), "--duration", "20", "--screenshot", str(shot)]
    app_env = {k: v for k, v in env.items() if not k.startswith("CARTRACK_") and k != "QTWEBENGINE_DISABLE_SANDBOX"}
    app_env["PYTHONUNBUFFERED"] = "1"
    lines: list[tuple[float, str]] = []
    seen = threading.Event()

    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, env=app_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic() - t0, line.rstrip()))
            if EVENTS["screenshot_saved"] in line:
                seen.set()

    reader = threading.Thread(target=read, name="startup-log", daemon=True)
    reader.start()
    deadline = t0 + TIMEOUT_S
    while not seen.is_set() and proc.poll() is None and time.monotonic() < deadline:
        seen.wait(0.1)
    got_shot = seen.is_set()

    # shut it down ourselves (the app treats SIGTERM as a close request)
    t_term = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(20)
        exit_s = time.monotonic() - t_term
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        exit_s = None
    reader.join(5)
    leftovers = _leftovers(data)
    _reap(leftovers)

    events: dict[str, float | None] = {}
    for key, needle in EVENTS.items():
        events[key] = next((rnd(t, 3) for t, line in lines if needle in line), None)
    logged = next((float(m.group(1)) for _, line in lines
                   if (m := re.search(r"start-up finished after ([0-9.]+) s", line))), None)
    cond: dict[str, Any] = {
        "command": "cartrack-desktop --data-dir <fresh tmp> --duration 20 --screenshot <tmp png>",
        "defaults": "embedded redis-server + secantusd-py, simulator with the default fleet, default tiles",
        "definition": f"launch -> 'screenshot saved' log line minus the app's fixed {SCREENSHOT_DELAY_S} s "
                      "screenshot delay (still includes the PNG grab/encode)",
        "events_since_launch_s": events, "startup_finished_logged_s": logged,
        "exit": {"signal": "SIGTERM after the screenshot", "exit_code": rc, "exited_within_s": rnd(exit_s, 2),
                 "clean": rc == 0 and exit_s is not None and not leftovers, "leftover_processes": leftovers},
        "screenshot_exists": shot.is_file(),
        "display": env.get("DISPLAY"),
    }
    if not got_shot or events["screenshot_saved"] is None:
        tail = [line for _, line in lines[-8:]]
        return [Metric.missing("startup_s", "s", f"no 'screenshot saved' within {TIMEOUT_S:.0f} s (exit code {rc})",
                               log_tail=tail, **cond).as_dict()]
    value = events["screenshot_saved"] - SCREENSHOT_DELAY_S
    return [Metric("startup_s", rnd(value, 2), "s", cond).as_dict()]


def _reap(leftovers: list[str]) -> None:
    """Kill what the app we launched left behind (by pid), so the machine is clean for what follows."""
    for entry in leftovers:
        try:
            psutil.Process(int(entry.split(":", 1)[0])).kill()
        except (psutil.Error, ValueError):
            pass


def _leftovers(data_dir: Path) -> list[str]:
    """Processes still running from this app instance (its embedded servers live under data_dir)."""
    needle = str(data_dir)
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if needle in cmd and p.pid != os.getpid():
            out.append(f"{p.pid}: {cmd[:120]}")
    return out

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["--cars", "-5"], ["--unknown-option"], ["--redis-url", "nope://"]])
def test_cli_bad_value_is_one_line_and_exit_2(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cartrack_desktop.app", *argv], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cartrack-desktop: error: ")
    assert "Traceback" not in proc.stderr

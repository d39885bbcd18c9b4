"""The package works installed, outside the checkout: `pip install .`, then `feedsvc demo --check` elsewhere.

The wheel is built from the checkout and installed, without its dependencies,
into a fresh virtualenv that borrows them from the test environment (a .pth
line, which adds no editable install of its own), so nothing of the checkout
is on the path: gunicorn's configuration and WSGI app must come from the
package itself.
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers.servers import ROOT, free_port


def run(command, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_pip_install_then_demo_check_from_another_directory(tmp_path):
    source, wheels, venv, elsewhere = (tmp_path / name for name in ("source", "wheels", "venv", "elsewhere"))
    elsewhere.mkdir()
    # Built from a copy: setuptools writes build/ into the tree it builds, and files left there go into wheels.
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "var", "test-artifacts", "*.egg-info", "__pycache__", ".pytest_cache"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(source)])
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
         *map(str, wheels.glob("feedsvc-*.whl"))])
    where = run([str(python), "-c", "import feedsvc; print(feedsvc.__file__)"], cwd=elsewhere).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the installed copy, not the checkout

    done = run([str(venv / "bin" / "feedsvc"), "demo", "--check", "--orders", "20", "--port", str(free_port()),
                "--data-dir", str(tmp_path / "demo")], cwd=elsewhere, env={"PATH": "/usr/bin:/bin"})
    assert "check: fetched" in done.stdout and ", 0 errors" in done.stdout, done.stdout
    assert not any(elsewhere.iterdir()), "the demo wrote into the working directory"

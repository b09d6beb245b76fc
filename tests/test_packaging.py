"""The built wheel carries everything the bot needs: installed into a fresh virtual
environment, outside the repository, ``supportbot demo``, ``supportbot faq`` and
``supportbot serve`` work from an empty folder.

Everything runs offline: the wheel is built with this environment's setuptools (no
build isolation), installed without dependencies, and the fresh environment borrows the
dependencies of this one through a ``.pth`` line added after the install.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a wheel build needs of the checkout (a copy keeps build/ and *.egg-info out of it).
BUILD_INPUTS = ("pyproject.toml", "README.md", "bot", "handlers", "templates", "data", "app.py")
SIGNING_SECRET = "packaging-test-secret"

pytestmark = pytest.mark.slow


def run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("dist")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "--wheel-dir",
            out,
            source,
        ]
    )
    [built] = out.glob("supportbot-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed, and this environment's
    dependencies visible to it."""
    home = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", home])
    python = home / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", wheel])
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # A plain path line: the folder joins sys.path after the venv's own site-packages,
    # without running its .pth files (so this checkout's editable install stays out).
    borrowed = "\n".join(site.getsitepackages())
    (Path(purelib.stdout.strip()) / "borrowed-dependencies.pth").write_text(borrowed + "\n")
    return home


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An empty working folder far from the checkout, and an environment without the
    bot's settings."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SUPPORTBOT_", "PYTHON")) and k != "PORT"
    }
    yield work, env


def test_the_wheel_holds_code_templates_data_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "bot").rglob("*.py")),
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "handlers").rglob("*.py")),
        *("bot/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.j2")),
        "bot/templates/__init__.py",
        "bot/data/__init__.py",
        "bot/data/demo.yml",
        "bot/store/migrations/script.py.mako",
    }
    missing = sorted(expected - names)
    assert missing == [], f"not in the wheel: {missing}"
    assert any(n.startswith("bot/store/migrations/versions/0001") for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_the_installed_bot_is_the_wheel(venv: Path, outside: tuple[Path, dict[str, str]]) -> None:
    work, env = outside
    found = run(
        [
            venv / "bin" / "python",
            "-c",
            "import bot, handlers; print(bot.__file__, handlers.__file__)",
        ],
        cwd=work,
        env=env,
    )
    for path in found.stdout.split():
        assert Path(path).is_relative_to(venv), path


def test_demo_from_an_empty_folder(venv: Path, outside: tuple[Path, dict[str, str]]) -> None:
    work, env = outside
    script = "as alice.martin@acme.example\n/supportbot whoami\n/ea\n/faq numéro EA\n"
    done = run([venv / "bin" / "supportbot", "demo"], cwd=work, env=env, input=script)
    assert "demo data loaded into sqlite+aiosqlite:///supportbot.db" in done.stdout
    assert "Alice Martin" in done.stdout
    assert "411023871" in done.stdout  # her EA, from the packaged demo dataset
    assert (work / "supportbot.db").is_file()
    assert "Traceback" not in done.stderr, done.stderr


def test_faq_from_an_empty_folder(venv: Path, outside: tuple[Path, dict[str, str]]) -> None:
    work, env = outside
    done = run(
        [venv / "bin" / "supportbot", "faq", "comment trouver mon numéro EA", "--json"],
        cwd=work,
        env=env,
    )
    answer = json.loads(done.stdout)
    assert answer["slug"] and answer["score"] > 0
    text = run(
        [venv / "bin" / "supportbot", "faq", "how do I renew an NFR license", "--locale", "en"],
        cwd=work,
        env=env,
    )
    assert text.stdout.strip()


def test_serve_from_an_empty_folder(
    venv: Path, outside: tuple[Path, dict[str, str]], database_url: str
) -> None:
    work, env = outside
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env.update(
        SLACK_BOT_TOKEN="xoxb-packaging-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",  # never called: nothing is owed
        PORT=str(port),
        SUPPORTBOT_DATABASE_URL=database_url,
        SUPPORTBOT_LOG_FORMAT="json",
    )
    process = subprocess.Popen(
        [venv / "bin" / "supportbot", "serve"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = None
        for _ in range(300):
            assert process.poll() is None, process.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = (r.status, json.loads(r.read()))
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert health is not None and health[0] == 200 and health[1]["ok"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            assert "supportbot_outbox_pending" in r.read().decode()
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert [line["message"] for line in lines][-1] == "stopped"
    assert any(line["message"].startswith("listening on port") for line in lines)

"""The README's commands are the ones CI runs."""

import re

from conftest import ROOT


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_ci_runs_exactly_the_readmes_test_command():
    install_and_train, test = _readme_commands()
    assert "train.py" in install_and_train and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()


def test_no_module_named_utils():
    assert not list(ROOT.glob("*/utils.py"))


def test_ruff_is_clean():
    import subprocess
    import sys

    # ruff comes with requirements-dev.txt; run the one installed beside this interpreter.
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

import subprocess
import sys


def test_help_lists_available_groups(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    assert "medperf-git" in result.output


def test_unknown_command_is_usage_error(invoke):
    result = invoke("no-such-command")
    assert result.exit_code == 2


def test_version():
    proc = subprocess.run([sys.executable, "-m", "medperf_git", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "medperf-git, version" in proc.stdout


def test_cli_import_is_light():
    """`medperf-git --help` must stay fast: the heavy libraries load only when a command needs them."""
    code = ("import sys, medperf_git.cli.main as m; "
            "heavy = [n for n in ('docker', 'git', 'jsonschema', 'jinja2', 'github', 'tabulate', 'yaml', 'requests') "
            "if n in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"

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


def test_an_unexpected_failure_is_one_line_and_a_saved_traceback(tmp_path, monkeypatch, capsys):
    """No traceback reaches the user: one line and where the details are; MEDPERF_GIT_DEBUG=1 shows it."""
    import click

    from medperf_git.cli._errors import run_cli
    from medperf_git.errors import EXIT_ERROR

    @click.group()
    def cli():
        pass

    @cli.command()
    def boom():
        raise RuntimeError("a bug")

    monkeypatch.setenv("MEDPERF_GIT_HOME", str(tmp_path))
    assert run_cli(cli, ["boom"], "medperf-git") == EXIT_ERROR
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: a bug" in err and "Traceback" not in err
    [log] = (tmp_path / "logs").glob("crash-*.log")
    assert 'raise RuntimeError("a bug")' in log.read_text()
    monkeypatch.setenv("MEDPERF_GIT_DEBUG", "1")
    assert run_cli(cli, ["boom"], "medperf-git") == EXIT_ERROR
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_help_does_not_import_what_only_failures_need():
    code = "import sys, medperf_git.cli.main as m; print('traceback' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"

import os

import yaml

from medperf_git.workspace import Workspace
from medperf_git.workspace.atomic import atomic_write, staged_dir


def _config(home):
    return yaml.safe_load((home / "config.yaml").read_text())


def test_create_copies_active_profile_and_activate(invoke, isolated_home, tmp_path):
    assert invoke("profile", "set", "--runner", "sandbox", "--data-dir", str(tmp_path / "big")).exit_code == 0
    result = invoke("profile", "create", "hospital", "--registry", "relative/registry.git")
    assert result.exit_code == 0, result.output
    assert "Next step: medperf-git profile activate hospital" in result.stderr
    config = _config(isolated_home)
    hospital = config["profiles"]["hospital"]
    assert hospital["runner"] == "sandbox"  # copied from the active profile
    assert hospital["registry"] == os.path.abspath("relative/registry.git")  # stored absolute
    assert config["active_profile"] == "default"
    assert invoke("profile", "activate", "hospital").exit_code == 0
    assert _config(isolated_home)["active_profile"] == "hospital"
    ls = invoke("profile", "ls")
    assert ls.stdout.splitlines() == ["  default", "* hospital"]


def test_global_profile_option_selects_for_one_command(invoke):
    invoke("profile", "create", "other", "--runner", "local")
    result = invoke("--profile", "other", "profile", "view", "--json")
    assert '"runner": "local"' in result.stdout
    assert '"runner": "auto"' in invoke("profile", "view", "--json").stdout


def test_set_timeouts_and_data_dir_setting(invoke, tmp_path):
    result = invoke("profile", "set", "--timeout", "infer=3600", "--data_dir", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    ws = Workspace.load()
    assert ws.profile.timeouts == {"infer": 3600}
    assert ws.data_root == tmp_path / "data"


def test_bad_settings_are_clear_errors(invoke):
    result = invoke("profile", "set", "--timeout", "infer=soon")
    assert result.exit_code == 2
    assert "TASK=SECONDS" in result.stderr
    result = invoke("profile", "set", "--timeout", "bake=10")
    assert result.exit_code == 2 and "unknown task 'bake'" in result.stderr
    result = invoke("profile", "set", "--runner", "vm")
    assert result.exit_code == 2


def test_delete_rules(invoke):
    assert invoke("profile", "delete", "default").exit_code == 2
    invoke("profile", "create", "tmp")
    invoke("profile", "activate", "tmp")
    result = invoke("profile", "delete", "tmp")
    assert result.exit_code == 2 and "is active" in result.stderr
    invoke("profile", "activate", "default")
    assert invoke("profile", "delete", "tmp").exit_code == 0
    assert invoke("profile", "delete", "nope").exit_code == 1


def test_unknown_profile_and_broken_config(invoke, isolated_home):
    result = invoke("--profile", "ghost", "profile", "view")
    assert result.exit_code == 1 and "no profile named 'ghost'" in result.stderr
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.yaml").write_text("profiles:\n  default:\n    runer: local\n")
    result = invoke("profile", "ls")
    assert result.exit_code == 1
    assert "unknown setting(s): runer" in result.stderr
    assert "Traceback" not in result.output
    (isolated_home / "config.yaml").write_text("profiles: [\n")
    result = invoke("profile", "ls")
    assert result.exit_code != 0 and "config.yaml:" in result.stderr


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    try:
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    except RuntimeError:
        pass
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_staged_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "dataset"
    with staged_dir(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    try:
        with staged_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]

from tests.support.actors import seed_registry


def test_seed_registry_registers_everyone(tmp_path, git_cmd):
    path, actors = seed_registry(tmp_path, ["admin", "bo", "do"])
    files = git_cmd("ls-tree", "-r", "--name-only", "main", cwd=path).splitlines()
    assert {"people/admin.yaml", "people/bo.yaml", "people/do.yaml"} <= set(files)
    assert git_cmd("rev-list", "--count", "main", cwd=path) == "2"
    with actors["do"].active():
        from medperf_git.workspace import Workspace

        assert Workspace.load().profile.handle == "do"

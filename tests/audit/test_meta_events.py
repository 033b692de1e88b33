"""`registry audit` reports submission events that clients ignore (git-native meta chains)."""

from __future__ import annotations

from medperf_git.forges.gitnative import GitNativeForge
from medperf_git.registry.git import init_bare
from tests.policy.policy_world import World, dataset, y


def forge_for(world: World, handle: str) -> GitNativeForge:
    clone = init_bare(world.path.parent / f"clone-{handle}.git")
    forge = GitNativeForge(clone, str(world.path), world[handle].identity, handle)
    forge.refresh()
    return forge


def test_close_by_someone_not_entitled_is_a_finding(tmp_path, invoke):
    world = World(tmp_path)
    do = forge_for(world, "do")
    head = world.submit("do", {"datasets/2.yaml": y(dataset(2, "do"))})
    do.repo.git("fetch", "-q", str(world.path), f"{head}:refs/heads/tmp")
    sub = do.open(head, title="dataset 2", kind="dataset", base=do.main)
    with world["do"].active():
        clean = invoke("registry", "audit", str(world.path))
        assert clean.exit_code == 0, clean.output
    eve = forge_for(world, "eve")
    eve.close(sub.number, "spite")
    with world["do"].active():
        result = invoke("registry", "audit", str(world.path))
    assert result.exit_code == 4
    assert f"META submission #{sub.number}: the closed event by 'eve' does not count" in result.stdout

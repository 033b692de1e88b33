"""`medperf-git benchmark submit` and `benchmark update-associations-policy`."""

from __future__ import annotations

from pathlib import Path

import click

from medperf_git.cli._context import pass_workspace
from medperf_git.cli._options import yes_option
from medperf_git.cli._publish import confirmer, report
from medperf_git.cli._run_options import run_options, settings_from


@click.command()
@click.option("--name", "-n", required=True, help="A unique name for the benchmark.")
@click.option("--description", "-d", required=True, help="What the benchmark measures.")
@click.option("--docs-url", "--docs_url", "-u", "docs_url", help="Where its documentation is.")
@click.option("--demo-url", "--demo_url", "demo_url", metavar="URL_OR_PATH",
              help="The demo dataset tarball (with paths.yaml), for the compatibility test.")
@click.option("--demo-hash", "--demo_hash", "demo_hash", help="Expected sha256 of the demo tarball.")
@click.option("--demo-published-url", help="Where a local --demo-url tarball will be published.")
@click.option("--data-preparation", "--data_preparation", "-p", "data_preparation", type=int, required=True,
              help="Id of the data preparation container.")
@click.option("--reference-model", "--reference_model", "-m", "reference_model", type=int, required=True,
              help="Id of the reference model container.")
@click.option("--metrics", "-e", "metrics", type=int, required=True, help="Id of the metrics container.")
@click.option("--owners", help="Other committee members' handles, comma-separated.")
@click.option("--min-isolation", type=click.Choice(["none", "sandbox", "container"]),
              help="Refuse results made with less isolation.")
@click.option("--skip-compatibility-tests", is_flag=True, help="Do not run the demo data through the containers.")
@yes_option
@run_options
@pass_workspace
def submit(ws, name, description, docs_url, demo_url, demo_hash, demo_published_url, data_preparation,
           reference_model, metrics, owners, min_isolation, skip_compatibility_tests, yes, runner, gpus, python,
           timeout):
    """Submit a benchmark for the registry admins' approval, after testing it on its demo data."""
    from medperf_git.flows import benchmark as flow
    from medperf_git.flows.container import ArchiveInput

    outcome = flow.submit(
        ws, name=name, description=description, docs_url=docs_url,
        demo=ArchiveInput(demo_url, demo_hash, demo_published_url) if demo_url else None,
        data_preparation=data_preparation, reference_model=reference_model, metrics=metrics,
        owners=[h.strip() for h in owners.split(",") if h.strip()] if owners else None,
        min_isolation=min_isolation, skip_compatibility_tests=skip_compatibility_tests,
        settings=settings_from(runner, gpus, python, timeout),
        confirm=confirmer("Do you approve the submission of this benchmark?", yes))
    report(outcome, f"benchmark {outcome.record.get('id')} is registered",
           f"medperf-git benchmark view {outcome.record.get('id')}")


def _read_allowlist(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--allowlist") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


MODES = click.Choice(["never", "always", "allowlist"], case_sensitive=False)


@click.command("update-associations-policy")
@click.option("--benchmark", "-b", type=int, required=True, help="Benchmark id.")
@click.option("--datasets", "--dataset_auto_approve_mode", "--dataset-auto-approve-mode", "datasets", type=MODES,
              help="Which dataset associations merge without the committee.")
@click.option("--models", "--model_auto_approve_mode", "--model-auto-approve-mode", "models", type=MODES,
              help="Which model associations merge without the committee.")
@click.option("--allowlist", "--dataset_auto_approve_file", "--dataset-auto-approve-file",
              "--model_auto_approve_file", "allowlist", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file of handles, one per line, for allowlist mode.")
@yes_option
@pass_workspace
def update_policy(ws, benchmark, datasets, models, allowlist, yes):
    """Set who joins the benchmark without the committee's approval."""
    from medperf_git.flows import benchmark as flow

    outcome = flow.update_policy(ws, benchmark=benchmark, datasets=datasets.lower() if datasets else None,
                                 models=models.lower() if models else None, allowlist=_read_allowlist(allowlist),
                                 confirm=confirmer("Do you approve this association policy?", yes))
    report(outcome, f"benchmark {benchmark}'s association policy is changed",
           f"medperf-git benchmark view {benchmark}")

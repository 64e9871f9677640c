"""mlstack plan: capacity store, load profiles, the simulation's cluster mechanics, the report
and the command (offline: a capacity file written here, the real stack files' recordings)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlstack.cli import app
from mlstack.plan import capacity as store
from mlstack.plan import inputs, simulate
from mlstack.plan.capacity import Capacity, CurvePoint
from mlstack.plan.cluster import Cluster, SimPod
from mlstack.plan.inputs import ClusterInput, Resources
from mlstack.plan.profiles import ProfileError, parse
from tests.support.harness import PROJECT_DIR, run_stack

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def curve_capacity(model: str = "iris", cpu: str = "1", memory: str = "1Gi", inputs_: str = "x",
                   measured: datetime = NOW) -> Capacity:  # fmt: skip
    """A replica that serves 100 req/s within 10 ms p99, 200 at 80 ms, saturates at 250."""
    return Capacity(
        model=model, framework="sklearn", size="medium", cpu_limit=cpu, memory_limit=memory,
        inputs=inputs_, measured=measured.isoformat(), how="test", request="test",
        startup_seconds=10.0, memory_bytes=200 * 2**20, idle_cores=0.01,
        curve=(
            CurvePoint(50, 50, 2, 5, 0.15),
            CurvePoint(100, 100, 3, 10, 0.30),
            CurvePoint(200, 199, 20, 80, 0.60),
            CurvePoint(300, 250, 900, 1000, 0.80),
        ),
    )  # fmt: skip


# ---- capacity ------------------------------------------------------------------------------------


def test_throughput_at_a_p99_target_interpolates_between_the_last_good_and_first_bad_point() -> (
    None
):
    capacity = curve_capacity()
    assert capacity.saturation_rps == 250
    assert capacity.throughput_at(80) == 200
    # 200 meets 100 ms, 300 misses (1000 ms): 20/920 of the way from 200 to 250 (served)
    assert capacity.throughput_at(100) == pytest.approx(200 + 50 * 20 / 920)
    assert capacity.throughput_at(1) == 0.0
    noisy = Capacity(**{**capacity.__dict__, "curve": (
        CurvePoint(50, 50, 2, 400, 0.15), *capacity.curve[1:])})  # fmt: skip
    assert noisy.throughput_at(80) == 200  # one noisy low step does not hide the others
    assert capacity.p99_at(150) == pytest.approx(45)
    assert capacity.cores_at(150) == pytest.approx(0.30 + 0.30 * 50 / 99)


def test_noise_never_makes_a_replica_faster_or_cheaper_under_more_load() -> None:
    capacity = curve_capacity()
    noisy = Capacity(**{**capacity.__dict__, "curve": (
        CurvePoint(50, 50, 2, 300, 0.40),  # a latency spike and a CPU spike at a low rate
        *capacity.curve[1:],
    )})  # fmt: skip
    assert noisy.p99_at(50) == 10  # the lowest p99 seen at 50 req/s or above
    assert noisy.cores_at(100) == 0.40  # CPU never drops as load rises
    assert noisy.cores_at(300) == 0.80


def test_the_store_round_trips_and_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "capacity.yaml"
    store.save(path, curve_capacity())
    store.save(path, curve_capacity(cpu="500m", memory="512Mi"))
    store.save(path, curve_capacity(inputs_="y"))  # replaces the first
    loaded = store.load(path)
    assert sorted(loaded) == [("iris", "cpu=1,memory=1Gi"), ("iris", "cpu=500m,memory=512Mi")]
    assert loaded[("iris", "cpu=1,memory=1Gi")].inputs == "y"
    assert loaded[("iris", "cpu=1,memory=1Gi")].curve == curve_capacity().curve
    assert path.read_text().startswith("# Per-replica capacity")


def test_a_malformed_store_names_the_file_and_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "capacity.yaml"
    path.write_text("version: 1\nmodels:\n  iris:\n    cpu=1,memory=1Gi: {size: small}\n")
    with pytest.raises(store.CapacityError, match=r"capacity.yaml: models.iris.cpu=1,memory=1Gi: "
                       r"unknown keys \[\], missing keys"):  # fmt: skip
        store.load(path)
    path.write_text("version: 7\n")
    with pytest.raises(store.CapacityError, match="version is 7; this mlstack reads version 1"):
        store.load(path)


def _find(entries: dict[tuple[str, str], Capacity], inputs_: str = "x") -> store.Lookup:
    return store.find(entries, model="iris", cpu_limit="1", memory_limit="1Gi", inputs=inputs_,
                      max_age_days=30, now=NOW, measure_command="mlstack plan qa --measure",
                      source=Path("stacks/capacity.yaml"))  # fmt: skip


def test_missing_and_stale_figures_are_reported() -> None:
    missing = _find({})
    assert missing.capacity is None
    assert missing.problems == (
        "stacks/capacity.yaml: no capacity measured for model iris at cpu=1,memory=1Gi "
        "(measured: none); run `mlstack plan qa --measure`",
    )
    fresh = curve_capacity()
    assert _find({("iris", fresh.key): fresh}).warnings == ()
    changed = _find({("iris", fresh.key): fresh}, inputs_="z")
    assert "stale: measured for image inputs x, the stack builds z" in changed.warnings[0]
    idle = tuple(CurvePoint(p.offered, p.served, p.p50_ms, p.p99_ms, 0.2) for p in fresh.curve)
    starved = Capacity(**{**fresh.__dict__, "curve": idle})
    assert (
        "used at most 0.20 of its 1 CPU limit" in _find({("iris", fresh.key): starved}).warnings[0]
    )
    old = curve_capacity(measured=NOW - timedelta(days=45))
    assert "measured 45 days ago" in _find({("iris", old.key): old}).warnings[0]


# ---- profiles ------------------------------------------------------------------------------------


def test_profiles(tmp_path: Path) -> None:
    step = parse("step:from=100,to=400,at=1m,duration=5m", tmp_path)
    assert (step.rate(59), step.rate(60), step.duration, step.peak) == (100, 400, 300, 400)
    ramp = parse("ramp:from=0,to=100,over=100s,hold=10s,start=0s", tmp_path)
    assert (ramp.rate(50), ramp.rate(100), ramp.duration) == (50, 100, 110)
    spike = parse("spike:base=10,peak=90,at=10s,for=5s,duration=1m", tmp_path)
    assert [spike.rate(t) for t in (9, 10, 14, 15)] == [10, 90, 90, 10]
    diurnal = parse("diurnal:min=100,max=300,period=2h,duration=2h", tmp_path)
    assert diurnal.rate(0) == pytest.approx(100)
    assert diurnal.rate(3600) == pytest.approx(300)
    (tmp_path / "load.csv").write_text("seconds,rps\n0,10\n60,50\n120,20\n")
    table = parse("csv:load.csv", tmp_path)
    assert [table.rate(t) for t in (0, 59, 60, 130)] == [10, 10, 50, 20]
    assert table.duration == 180


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("wave:x=1", "expected KIND:..., KIND one of step, ramp, spike, diurnal, csv"),
        ("step:from=1,to=2,when=3", "'when=3' is not one of step's keys"),
        ("step:from=-1,to=2", "from='-1' is not a rate >= 0"),
        ("ramp:from=1,to=2,over=soon", "over='soon' is not a duration"),
        ("csv:nope.csv", "cannot read"),
    ],
)
def test_bad_profiles_say_what_is_allowed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text, tmp_path)


def test_csv_rows_must_increase(tmp_path: Path) -> None:
    (tmp_path / "load.csv").write_text("0,10\n0,20\n")
    with pytest.raises(ProfileError, match=r"load.csv:2: times must start at >= 0 and increase"):
        parse("csv:load.csv", tmp_path)


# ---- cluster mechanics ---------------------------------------------------------------------------


def cluster_input(**changes: object) -> ClusterInput:
    values: dict[str, object] = dict(
        deployed=True, node_group="g", group_min=1, group_max=3, scan_interval=10,
        unneeded_time=600, delay_after_add=600, utilization_threshold=0.5, expendable_cutoff=-10,
        max_empty_bulk_delete=10, headroom_replicas=0, headroom=Resources(0, 0),
        headroom_priority=-10, command=(),
    )  # fmt: skip
    values.update(changes)
    return ClusterInput(**values)  # type: ignore[arg-type]


NODE = Resources(2000, 8 * 2**30)
POD = Resources(900, 2**30)


def test_serving_pods_preempt_headroom_and_the_autoscaler_adds_a_node_for_it() -> None:
    cluster = Cluster(cluster_input(), NODE, provision_seconds=200)
    cluster.add_nodes(1, -1)
    placeholder = SimPod(1, "", Resources(1000, 2**30), -10, created=-1)
    serving = [SimPod(2, "iris", POD, 100000, created=-1), SimPod(3, "iris", POD, 100000, 0)]
    pods = [placeholder, *serving]
    assert cluster.schedule(pods[:2], -1) == []
    preempted = cluster.schedule(pods, 0)
    assert preempted == [placeholder]
    assert serving[1].node == 0
    recreated = SimPod(4, "", Resources(1000, 2**30), -10, created=0)
    live = [*serving, recreated]
    cluster.autoscale(live, 1, {"iris": 1})
    assert [(n.uid, n.ready_at) for n in cluster.nodes] == [(0, -1), (1, 201)]
    assert cluster.events == [(1, "scale-up +1 node")]
    cluster.schedule(live, 200)
    assert recreated.node is None  # the new node is not ready yet
    cluster.schedule(live, 201)
    assert recreated.node == 1


def test_expendable_pods_and_the_group_max_bound_the_scale_up() -> None:
    cluster = Cluster(cluster_input(group_max=2), NODE, provision_seconds=100)
    cluster.add_nodes(1, -1)
    pods = [SimPod(i, "iris", POD, 100000, created=-1) for i in range(8)]
    pods.append(SimPod(99, "", POD, -11, created=-1))  # below the cutoff: never scaled for
    cluster.schedule(pods, 0)
    cluster.autoscale(pods, 1, {})
    assert len(cluster.nodes) == 2  # 6 pending pods want 3 nodes; max is 2


def test_an_unneeded_node_goes_after_the_unneeded_time_not_before_the_delay_after_add() -> None:
    cluster = Cluster(cluster_input(unneeded_time=600, delay_after_add=600), NODE, 100)
    cluster.add_nodes(2, -1)
    pods = [SimPod(1, "iris", POD, 100000, created=-1), SimPod(2, "iris", POD, 100000, -1)]
    cluster.schedule(pods, 0)
    assert {p.node for p in pods} == {0, 1}  # least-allocated spreads them
    cluster.last_scale_up = 0
    for second in range(0, 1300, 10):
        cluster.autoscale(pods, second, {"iris": 1})
        if len(cluster.nodes) == 1:
            break
    # Both nodes are below 50%; scans start at 600 (delay after add), unneeded from 600 to 1200.
    assert second == 1200
    assert cluster.events == [(1200, "scale-down -1 node")]
    assert sum(p.deleted for p in pods) == 1  # drained: its Deployment recreates it


def test_a_disruption_budget_keeps_a_node() -> None:
    cluster = Cluster(cluster_input(unneeded_time=0, delay_after_add=0), NODE, 100)
    cluster.add_nodes(2, -1)
    small = Resources(100, 2**20)
    pods = [SimPod(i, "iris", small, 100000, created=-1) for i in range(4)]
    for pod in pods:
        pod.node = 0
    cluster.autoscale(pods, 0, {"iris": 1})  # four iris pods on node 0, one may go at a time
    assert [e[1] for e in cluster.events] == ["scale-down -1 node"]  # only the empty node 1
    assert [n.uid for n in cluster.nodes] == [0]


# ---- the whole simulation on the real stacks -----------------------------------------------------


@pytest.fixture(scope="module")
def staging() -> inputs.StackInput:
    from mlstack.plan.command import stack_settings

    settings = stack_settings(PROJECT_DIR, "staging")
    return inputs.read(run_stack("staging"), settings)


def test_the_plan_reads_what_the_stack_declares(staging: inputs.StackInput) -> None:
    iris = staging.models[0]
    assert (iris.requests.cpu_m, iris.cpu_limit, iris.priority) == (500, "1", 100000)
    assert iris.hpa is not None
    assert (iris.hpa.min_replicas, iris.hpa.max_replicas) == (2, 6)
    assert (iris.hpa.metrics[0].kind, iris.hpa.metrics[0].target) == ("cpu", 70)
    assert iris.vpa is not None
    assert iris.vpa.mode == "Initial"
    assert staging.cluster is not None
    assert (staging.cluster.group_min, staging.cluster.group_max) == (2, 10)
    assert staging.cluster.headroom_replicas == 1
    assert not staging.cluster.deployed


def test_a_step_scales_out_within_the_policy_then_back_after_the_window(
    staging: inputs.StackInput,
) -> None:
    one = inputs.StackInput("staging", "kubernetes", staging.models[:1], staging.cluster)
    profile = parse("step:from=100,to=900,at=60s,duration=30m", PROJECT_DIR)
    sim = simulate.run(one, {"iris": curve_capacity()}, profile,
                       simulate.Options(100, Resources(3920, 14 * 2**30), 200))  # fmt: skip
    series = sim.models[0]
    assert series.ready[0] == 2
    # The scrape at 75 s is the first whose 15 s window holds only the new load; the sync 7 s
    # later sees 160% of the CPU request against 70% (the replica saturates at 0.8 CPU of its
    # 0.5 request): ceil(2 x 160/70) = 5 (within +100% or +4 per 15 s). The next syncs want more
    # than replicas.max.
    assert series.rescales[0] == (82.0, 2, 5, "DesiredWithinRange")
    assert series.rescales[1][1:] == (5, 6, "TooManyReplicas")
    assert series.ready[82] == 2
    assert series.ready[82 + 1 + 10] == 5  # bound, then 10 s startup
    assert max(series.ready) == 6
    assert sim.cluster is not None
    assert sim.cluster.ready[0] == 2


def test_the_report_and_exit_code_say_when_the_maximum_is_too_low(
    staging: inputs.StackInput,
) -> None:
    from mlstack.plan import report

    one = inputs.StackInput("staging", "kubernetes", staging.models[:1], staging.cluster)
    profile = parse("step:from=100,to=2400,at=60s,duration=10m", PROJECT_DIR)
    sim = simulate.run(one, {"iris": curve_capacity()}, profile,
                       simulate.Options(100, Resources(3920, 14 * 2**30), 200))  # fmt: skip
    text = report.build(sim, budget=0.01).text()
    needed = math.ceil(2400 / curve_capacity().throughput_at(100))
    assert f"peak 2,400 req/s needs {needed} replicas; replicas.max is 6:" in text
    assert "verdict: the target does NOT hold" in text


# ---- the command ---------------------------------------------------------------------------------


def test_plan_without_a_measurement_names_the_command(project: Path) -> None:
    (project / "stacks" / "capacity.yaml").unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["plan", "staging", "--load", "step:from=1,to=2",
                                      "--project", str(project)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no capacity measured for model iris at cpu=1,memory=1Gi" in result.output
    assert "run `mlstack plan staging --measure`" in result.output


def test_plan_needs_the_node_shape_and_a_load(project: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["plan", "staging", "--project", str(project)])
    assert result.exit_code == 2
    assert "mlstack plan needs --load" in result.output


def test_plan_writes_a_report_a_plot_and_exits_1_when_the_target_fails(project: Path) -> None:
    from mlstack.plan.command import stack_settings
    from mlstack.plan.measure import recorded_context
    from mlstack.project import record_stack

    recording = record_stack(project, "staging")
    path = project / "stacks" / "capacity.yaml"
    path.unlink(missing_ok=True)
    for model, cpu, memory in (("iris", "1", "1Gi"), ("iris-onnx", "500m", "512Mi")):
        fingerprint = store.inputs_fingerprint(recorded_context(recording, model, project))
        store.save(path, curve_capacity(model, cpu, memory, fingerprint,
                                        measured=store.now_utc()))  # fmt: skip
    del stack_settings
    args = ["plan", "staging", "--load", "step:from=100,to=2400,at=1m,duration=8m",
            "--node-cpu", "3920m", "--node-memory", "14Gi", "--plot", str(project / "p.png"),
            "--project", str(project)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "peak 2,400 req/s needs" in result.output
    assert "the stack does not deploy cluster-autoscaler" in result.output
    assert (project / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    easy = [*args[:3], "step:from=50,to=150,at=1m,duration=5m", *args[4:]]
    assert CliRunner().invoke(app, easy).exit_code == 0
    missing_node = CliRunner().invoke(
        app, [*args[:3], "step:from=1,to=2", "--project", str(project)]
    )
    assert missing_node.exit_code == 2
    assert "set clusterAutoscaling.nodeAllocatable" in missing_node.output


# ---- the plan in the pull-request diff -----------------------------------------------------------


@pytest.mark.slow
def test_a_capacity_change_puts_the_before_and_after_plan_in_the_markdown_diff(
    tmp_path: Path,
) -> None:
    import yaml

    from mlstack.plan.measure import recorded_context
    from mlstack.project import record_stack
    from tests.support.cli_support import git, git_project, invoke

    repo = git_project(tmp_path / "repo")
    recording = record_stack(repo, "staging")
    path = repo / "stacks" / "capacity.yaml"
    path.unlink(missing_ok=True)
    for model, cpu, memory in (("iris", "1", "1Gi"), ("iris-onnx", "500m", "512Mi")):
        fingerprint = store.inputs_fingerprint(recorded_context(recording, model, repo))
        store.save(path, curve_capacity(model, cpu, memory, fingerprint, store.now_utc()))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "capacity")
    stack_file = repo / "Pulumi.staging.yaml"
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["mlstack:overrides"] = {"replicas": {"max": 10}}
    stack_file.write_text(yaml.safe_dump(data))
    args = ["diff", "staging", "--base", "HEAD", "--format", "markdown", "--node-cpu", "3920m",
            "--node-memory", "14Gi", "--plan-load", "step:from=100,to=1500,at=1m,duration=6m",
            "--project", str(repo)]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    plan = result.output.split("<!-- mlstack-plan -->", 1)[1]
    before, after = plan.split("After (this change)", 1)
    assert "both revisions planned for `--load step:from=100,to=1500,at=1m,duration=6m`" in plan
    assert "replicas.max is 6" in before
    assert "replicas.max is 10" in after
    # The same stack without a capacity change has no plan section.
    git(repo, "checkout", "--", "Pulumi.staging.yaml")
    unchanged = invoke(*args)
    assert "mlstack-plan" not in unchanged.output


def test_the_recorded_build_is_found_from_any_working_directory(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorded context and Dockerfile are relative to the project (as the provider reads
    them), not to wherever `mlstack plan --measure --project DIR` runs."""
    from mlstack.loadtest.container import build_paths, model_image
    from mlstack.plan.measure import recorded_context
    from mlstack.project import record_stack

    recording = record_stack(project, "staging")
    monkeypatch.chdir(tmp_path)
    context, dockerfile = build_paths(model_image(recording, "iris"), project)
    assert context.is_relative_to(project)
    assert (context / "requirements.txt").is_file()
    assert dockerfile == context / "Dockerfile"
    assert dockerfile.is_file()
    assert recorded_context(recording, "iris", project) == context


def test_measuring_with_a_local_base_image_keeps_the_stacks_registry(project: Path) -> None:
    """--base-image goes over the stack's mlstack:image, not instead of it: a Kubernetes stack
    without its registry would be refused before anything is measured."""
    from mlstack.plan.command import _stack_image_config

    image = _stack_image_config(project, "staging")
    assert image["push"] is True
    assert image["registry"]

"""The ``vitals`` command line.

Kafka-facing commands import ``bridge``/``streams`` lazily, so the core stays
free of Kafka imports and the offline commands start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from monitor.kafka_settings import DEAD_LETTER_TOPIC, INPUT_TOPIC, KafkaSettings

app = typer.Typer(
    help="Vitals: streaming performance monitor for AI features in the EHR.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Kafka topic administration.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")

# Piped or redirected output is not cut at Rich's 80-column default.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out = Console(width=None if sys.stdout.isatty() else 200)


def _fail(message: object, code: int = 2) -> NoReturn:
    """Print an error (as plain text: file names and messages are not Rich markup)."""
    console.print(str(message), style="red", markup=False, highlight=False)
    raise typer.Exit(code)


def _warn(message: str) -> None:
    console.print(f"warning: {message}", style="yellow", markup=False, highlight=False)


def _writable_file(path: Path, option: str, *, not_same_as: Path | None = None) -> None:
    """Fail before any work when an output file cannot be written where asked."""
    if not_same_as is not None and path.resolve() == not_same_as.resolve():
        _fail(f"{option} {path}: that is the input file; writing it would erase it")
    if path.is_dir():
        _fail(f"{option} {path}: is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"{option} {path}: cannot create its directory ({exc.strerror})")


def _output_dir(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        _fail(f"{option} {path}: exists and is not a directory")


Bootstrap = Annotated[
    str | None,
    typer.Option(help="Kafka HOST:PORT[,HOST:PORT]; default $VITALS_KAFKA_BOOTSTRAP."),
]
Topic = Annotated[str, typer.Option(help="Input topic.")]


def _settings(bootstrap: str | None, **overrides: object) -> KafkaSettings:
    try:
        return KafkaSettings.from_env(bootstrap=bootstrap, **overrides)
    except ValueError as exc:
        _fail(f"invalid Kafka settings: {exc}")


def _progress(*, auto_refresh: bool = True) -> Progress:
    """A progress bar on stderr; ``auto_refresh=False``: no refresh thread (drawn on each
    update), for a stage that forks worker processes."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        auto_refresh=auto_refresh,
    )


@app.command()
def schema(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write into.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schema of event contract v1 and example events."""
    from monitor.schema import write_schema

    _output_dir(out_dir, "--out")
    for path in write_schema(out_dir):
        out.print(str(path))


@topics_app.command("create")
def topics_create(
    bootstrap: Bootstrap = None,
    topic: Topic = INPUT_TOPIC,
    dead_letter_topic: Annotated[str, typer.Option(help="Dead-letter topic.")] = DEAD_LETTER_TOPIC,
    partitions: Annotated[int, typer.Option(min=1, help="Input topic partitions.")] = 6,
    replication: Annotated[int, typer.Option(min=1, help="Replication factor.")] = 1,
    dlq_partitions: Annotated[int, typer.Option(min=1, help="Dead-letter partitions.")] = 1,
) -> None:
    """Create the input topic and its dead-letter topic (existing ones are kept)."""
    from bridge.admin import create_topics
    from bridge.connection import BrokerUnavailable

    settings = _settings(bootstrap, input_topic=topic, dead_letter_topic=dead_letter_topic)
    try:
        results = create_topics(
            settings, partitions=partitions, replication=replication, dlq_partitions=dlq_partitions
        )
    except BrokerUnavailable as exc:
        _fail(exc, 1)
    for r in results:
        state = "created" if r.created else "exists"
        typer.echo(f"{r.name}\t{r.partitions} partitions\t{state}")


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL events.")],
    bootstrap: Bootstrap = None,
    topic: Topic = INPUT_TOPIC,
    max_errors_shown: Annotated[int, typer.Option(help="Invalid lines listed in full.")] = 50,
    create_topic: Annotated[
        bool,
        typer.Option(
            "--create-topic",
            help="Create the topic if missing (partitions and retention as `vitals topics"
            " create`); without it a missing topic is an error.",
        ),
    ] = False,
    speed: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Publish in accelerated time: event seconds per wall second (0 = at once).",
        ),
    ] = 0.0,
) -> None:
    """Validate and publish a JSONL file of events; report every invalid line.

    Exits 1 when any line was invalid (the valid ones are still sent), 2 when
    nothing could be sent (no broker, no such topic).
    """
    from bridge.publisher import BrokerUnavailable, Publisher, PublishError, TopicMissing
    from monitor.core.contract import InvalidEvent
    from monitor.pacing import Pacer, occurred_at

    pacer = Pacer(speed)

    settings = _settings(bootstrap, input_topic=topic)
    invalid: list[tuple[int, InvalidEvent]] = []
    try:
        publisher = Publisher(settings, create_topic=create_topic)
    except (BrokerUnavailable, TopicMissing) as exc:
        _fail(exc, 2)
    size = file.stat().st_size
    with _progress() as progress, file.open("rb") as fh:
        task = progress.add_task(f"publish {file.name}", total=size)
        done = 0
        for lineno, line in enumerate(fh, start=1):
            done += len(line)
            if lineno % 2048 == 0:
                progress.update(task, completed=done)
            if not line.strip():
                continue
            if speed:
                pacer.wait(occurred_at(line))
            try:
                publisher.publish_json(line)
            except InvalidEvent as exc:
                invalid.append((lineno, exc))
        progress.update(task, completed=size)
    try:
        publisher.close()
    except PublishError as exc:
        _fail(exc, 2)
    for lineno, exc in invalid[:max_errors_shown]:
        typer.echo(f"{file}:{lineno}: {exc.reason} {exc}", err=True)
    if len(invalid) > max_errors_shown:
        console.print(f"... and {len(invalid) - max_errors_shown} more invalid lines")
    out.print(
        f"published {publisher.sent} events to {settings.input_topic}; invalid {len(invalid)}"
    )
    if invalid:
        raise typer.Exit(1)


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", exists=True, dir_okay=False, help="Monitor config YAML.")
]
WebConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--web.config.file",
        exists=True,
        dir_okay=False,
        help="TLS and basic auth for /metrics: a Prometheus exporter web config file.",
    ),
]


def _load_web_config(path: Path | None):  # type: ignore[no-untyped-def]
    from monitor.web_config import load_web_config

    if path is None:
        return None
    try:
        return load_web_config(path)
    except ValueError as exc:
        _fail(exc, 2)


def _load_truth(path: Path | None) -> dict[str, Any]:
    """A truth file, checked before any replay (empty without one)."""
    from monitor.scoring import TruthError, load_truth

    if path is None:
        return {}
    try:
        return load_truth(path)
    except TruthError as exc:
        _fail(exc)


def _report_target(path: Path, events: Path) -> None:
    """Fail before any work when an HTML report with figures cannot be written."""
    from monitor import plots

    _writable_file(path, "--report", not_same_as=events)
    if not plots.available():
        _fail(f"--report draws with matplotlib: {plots.INSTALL_HINT}")


def _load_config(path: Path | None):  # type: ignore[no-untyped-def]
    from monitor.core.config import load_config

    try:
        return load_config(path)
    except ValueError as exc:
        _fail(exc, 2)


@app.command()
def simulate(
    scenario: Annotated[
        Path | None,
        typer.Argument(exists=True, dir_okay=False, help="Scenario YAML (or use --family)."),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/sim"),
    family: Annotated[
        int | None,
        typer.Option(
            "--family",
            min=0,
            help="Draw scenario SEED of the scenario family instead; also writes "
            "scenario.yaml and config.yaml (the deployment's zone and holidays).",
        ),
    ] = None,
    stationary: Annotated[
        bool, typer.Option("--stationary", help="With --family: no degradation.")
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="With --family: 5-7 days, few sites.")
    ] = False,
) -> None:
    """Simulate a scenario: writes events.jsonl and truth.json under --out."""
    import yaml

    from monitor.simulate import ScenarioError, load_scenario
    from monitor.simulate import simulate as run

    if (scenario is None) == (family is None):
        _fail("give a scenario YAML or --family SEED (one of them)")
    if family is None and (stationary or quick):
        _fail("--stationary and --quick go with --family")
    _output_dir(out_dir, "--out")
    try:
        if family is not None:
            from monitor.simulate.family import draw_family, family_config, scenario_document

            spec = draw_family(family, stationary=stationary, quick=quick)
        else:
            assert scenario is not None
            spec = load_scenario(scenario)
        result = run(spec, out_dir)
    except ScenarioError as exc:
        _fail(exc, 2)
    if family is not None:
        for name, doc in (("scenario.yaml", scenario_document(spec)),
                          ("config.yaml", family_config(spec))):  # fmt: skip
            (out_dir / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out.print(
        f"{result.events_path}: {result.lines} lines ({result.suggestions} suggestions, "
        f"{result.duplicates} duplicates, {result.malformed} malformed); {result.truth_path}"
        + (
            f"; {out_dir / 'scenario.yaml'}, {out_dir / 'config.yaml'}"
            if family is not None
            else ""
        )
    )


@app.command()
def replay(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL events.")],
    config: ConfigOpt = None,
    alerts_out: Annotated[
        Path | None, typer.Option("--alerts-out", help="Write the alert log (JSONL) here.")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option("--truth", exists=True, dir_okay=False, help="Score against truth.json."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write <signal>.png here: each detector's statistic over time, alerts,"
            " truth; and print how close each signal came to firing.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write one self-contained HTML page: summary, alerts with their evidence,"
            " and per alerting or --series series its signals and detector statistics.",
        ),
    ] = None,
    series: Annotated[
        list[str] | None,
        typer.Option(
            "--series",
            help="Also draw this series in --report: feature|model_version|site, * for all"
            " (repeatable).",
        ),
    ] = None,
) -> None:
    """Replay a recorded stream in process: summary, alert log, optional scoring and plots."""
    import json

    from monitor.replay import replay_file
    from monitor.report import print_peaks, print_score, print_summary
    from monitor.scoring import truth_mismatch
    from monitor.trace import Trace

    cfg = _load_config(config)
    # Everything that can be refused is checked before the replay, not after it.
    if alerts_out is not None:
        _writable_file(alerts_out, "--alerts-out", not_same_as=events)
    truth_doc = _load_truth(truth)
    if plot is not None:
        from monitor import plots

        _output_dir(plot, "--plot")
        if not plots.available():
            _fail(f"--plot needs matplotlib: {plots.INSTALL_HINT}")
    if report is not None or series:
        from monitor.htmlreport import check_series

        if report is None:
            _fail("--series selects series for --report; give --report too")
        _report_target(report, events)
        for key in series or ():
            if (problem := check_series(key)) is not None:
                _fail(f"--series {key}: {problem}")
    trace = Trace(detail=report is not None) if plot is not None or report is not None else None
    size = events.stat().st_size
    with _progress() as progress:
        task = progress.add_task(f"replay {events.name} (bytes)", total=size)
        on_progress = lambda n: progress.update(task, completed=n)  # noqa: E731
        if report is None:
            engine, result = replay_file(events, cfg, on_progress=on_progress, trace=trace)
        else:  # the same replay, with every resolution counted for the alerts' evidence
            from monitor.fanout import Lane, fan_out_file
            from monitor.tally import Tally

            tally = Tally()
            engine, result = fan_out_file(
                events, cfg, [Lane.of(cfg, trace)], tap=tally.add, on_progress=on_progress
            )
    for lineno, reason, detail in result.malformed_examples:
        typer.echo(f"{events}:{lineno}: {reason} {detail}", err=True)
    print_summary(out, engine, result)
    if not result.events:  # an empty or wholly malformed file is a mistake, not a quiet month
        _fail(f"{events}: no valid event in {result.lines} lines; nothing was replayed", 1)
    seen = {state.key.feature for state in engine.assessor.series.values()}
    unused = sorted((set(cfg.features) | set(cfg.lineage)) - seen)
    if unused:  # a misspelled feature silently configures nothing
        _warn(f"the config names features this stream does not have: {', '.join(unused)}")
    if alerts_out is not None:
        try:
            with alerts_out.open("w") as fh:
                for alert in result.alerts:
                    fh.write(json.dumps(alert.to_log(), separators=(",", ":")) + "\n")
        except OSError as exc:
            _fail(f"--alerts-out {alerts_out}: {exc.strerror}", 1)
        out.print(f"alert log: {alerts_out} ({len(result.alerts)} lines)", markup=False)
    scores = None
    if truth is not None:
        for problem in truth_mismatch(truth_doc, result.lines, engine.resolver.clock):
            _warn(f"{truth}: {problem}")
        scores = print_score(out, events, cfg, result, truth, truth_doc)
    if plot is not None and trace is not None:
        from monitor.plots import plot_signals

        print_peaks(out, trace.peaks(), result.alerts)
        try:
            paths = plot_signals(trace, result.alerts, plot, truth_doc or None)
        except OSError as exc:
            _fail(f"--plot {plot}: {exc.strerror}", 1)
        out.print(f"plots: {len(paths)} PNG files in {plot}", markup=False)
    if report is not None and trace is not None:
        from monitor.htmlreport import ReplayReport, write_replay_report

        missing = [key for key in series or () if key not in engine.assessor.series]
        if missing:
            _warn(f"--series: this stream has no series {', '.join(missing)}")
        doc = ReplayReport(events, config, engine, result, trace, tally, truth_doc or None,
                           scores, [k for k in series or () if k not in missing])  # fmt: skip
        _write_html(report, lambda: write_replay_report(report, doc))


@app.command()
def compare(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL events.")],
    config: Annotated[
        list[Path],
        typer.Option("--config", exists=True, dir_okay=False, help="Config A, then config B."),
    ],
    truth: Annotated[
        Path | None,
        typer.Option("--truth", exists=True, dir_okay=False, help="Score against truth.json."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the comparison as HTML here.")
    ] = None,
) -> None:
    """Two configs on one stream: alerts gained and lost, delays, false alarms, time."""
    from monitor.compare import compare_file, print_comparison, write_html

    if len(config) != 2:
        _fail(f"--config: give exactly two (A and B), not {len(config)}")
    cfgs = [_load_config(path) for path in config]
    names = [p.name for p in config] if config[0].name != config[1].name else ["A", "B"]
    truth_doc = _load_truth(truth) or None
    if report is not None:
        _report_target(report, events)
    with _progress() as progress:
        task = progress.add_task(f"replay {events.name} (bytes)", total=events.stat().st_size)
        result = compare_file(
            events, list(zip(names, cfgs, strict=True)), truth_doc, traces=report is not None,
            on_progress=lambda n: progress.update(task, completed=n),
        )  # fmt: skip
    if not result.result.events:
        _fail(f"{events}: no valid event in {result.result.lines} lines; nothing was replayed", 1)
    print_comparison(out, result)
    if report is not None:
        _write_html(report, lambda: write_html(report, result, events))


@app.command()
def rollout(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL events.")],
    feature: Annotated[str, typer.Option("--feature", help="The feature rolled out.")],
    old: Annotated[str, typer.Option("--from", help="The model version replaced.")],
    new: Annotated[str, typer.Option("--to", help="The new model version.")],
    config: ConfigOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the scorecard as HTML here.")
    ] = None,
) -> None:
    """Phased-rollout scorecard: the new version vs the old, per site and overall."""
    from monitor.rollout import print_scorecard, rollout_file

    cfg = _load_config(config)
    if report is not None:
        _writable_file(report, "--report", not_same_as=events)
    with _progress() as progress:
        task = progress.add_task(f"resolve {events.name} (bytes)", total=events.stat().st_size)
        card, _, tally = rollout_file(
            events, feature, old, new, cfg, on_progress=lambda n: progress.update(task, completed=n)
        )
    versions = sorted({v for (f, v, _) in tally.leaves if f == feature})
    if not versions:
        known = sorted({f for (f, _, _) in tally.leaves})
        _fail(f"{events}: no suggestion of feature {feature!r} (features: {', '.join(known)})")
    for option, version in (("--from", old), ("--to", new)):
        if version not in versions:
            _fail(f"{option} {version}: {feature} has no such version ({', '.join(versions)})")
    print_scorecard(out, card)
    if report is not None:
        from monitor.rollout import write_html

        _write_html(report, lambda: write_html(report, card, events))


@app.command()
def calibrate(
    reference: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A stationary stream (JSONL).")
    ],
    budget: Annotated[
        str,
        typer.Option(
            "--budget",
            help="Expected false alarms across the whole deployment: '2 per 30 days', "
            "'1 per week', '0.5 per month' (a month is 30 days).",
        ),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Write the calibrated config here.")],
    holdout: Annotated[
        Path | None,
        typer.Option(
            "--holdout",
            exists=True,
            dir_okay=False,
            help="A second stationary stream: replay it with the result and count its false"
            " alarms against the budget.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            help="Base config (time zone, holidays, lineage, other settings): kept, with the"
            " thresholds set on top.",
        ),
    ] = None,
    resamples: Annotated[
        int, typer.Option(min=2, help="Day-block bootstrap resamples, one replay each.")
    ] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the resampling.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Resamples replayed at once (default: the CPUs, at most 4)."),
    ] = None,
) -> None:
    """Thresholds that meet a false-alarm budget on a stationary reference stream."""
    import os
    import time

    import yaml

    from monitor.calibrate.budget import BudgetError, parse_budget
    from monitor.calibrate.configfile import write_config
    from monitor.calibrate.holdout import check_holdout
    from monitor.calibrate.report import print_delays, print_holdout, print_thresholds
    from monitor.calibrate.run import ReferenceTooShort, load_reference
    from monitor.calibrate.run import calibrate as run_calibration

    try:
        parsed = parse_budget(budget)
    except BudgetError as exc:
        _fail(exc)
    _writable_file(out_path, "--out", not_same_as=reference)
    if holdout is not None and holdout.resolve() == out_path.resolve():
        _fail(f"--out {out_path}: that is the --holdout file; writing it would erase it")
    cfg = _load_config(config)
    base = yaml.safe_load(config.read_text()) or {} if config is not None else {}
    began = time.perf_counter()
    with _progress() as progress:
        size = reference.stat().st_size
        task = progress.add_task(f"resolve {reference.name} (bytes)", total=size)
        try:
            ref = load_reference(reference, cfg, lambda n: progress.update(task, completed=n))
        except ReferenceTooShort as exc:
            _fail(exc)
    if not ref.events:
        _fail(f"{reference}: no valid event in {ref.lines} lines; nothing to calibrate on")
    if len(ref.blocks.days) < 21:
        _warn(
            f"{reference}: {len(ref.blocks.days)} whole days; 28 give thresholds that rest on "
            "more kinds of ordinary day"
        )
    n_workers = workers or min(os.cpu_count() or 1, 4)
    with _progress(auto_refresh=False) as progress:  # the workers fork: no refresh thread
        task = progress.add_task("replay resamples", total=resamples)

        def done() -> None:
            progress.advance(task)
            progress.refresh()

        progress.refresh()
        cal = run_calibration(
            ref, cfg, parsed, resamples=resamples, seed=seed, workers=n_workers, on_resample=done
        )
    try:
        write_config(out_path, cal, cfg, base)
    except OSError as exc:
        _fail(f"--out {out_path}: {exc.strerror}", 1)
    elapsed = time.perf_counter() - began
    print_thresholds(out, cal, cfg)
    print_delays(out, cal.delays)
    out.print(
        f"config: {out_path} ({elapsed:.0f} s: {ref.lines} lines, {len(ref.blocks.days)} "
        f"whole days, {resamples} resamples on {n_workers} workers)",
        markup=False,
    )
    if holdout is None:
        return
    calibrated = _load_config(out_path)
    with _progress() as progress:
        task = progress.add_task(f"hold-out {holdout.name} (bytes)", total=holdout.stat().st_size)
        try:
            check = check_holdout(
                holdout, calibrated, parsed, lambda n: progress.update(task, completed=n)
            )
        except ValueError as exc:
            _fail(exc, 1)
    print_holdout(out, check)


def _write_html(path: Path, write: Any) -> None:
    try:
        write()
    except OSError as exc:
        _fail(f"--report {path}: {exc.strerror}", 1)
    out.print(f"report: {path}", markup=False)


@app.command()
def demo(
    scenario: Annotated[
        Path | None,
        typer.Option(help="Scenario to simulate [default: the seed config-break, bundled]."),
    ] = None,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port for Prometheus /metrics.")
    ] = 9464,
    speed: Annotated[
        float,
        typer.Option(min=0.0, help="Event-time seconds replayed per wall second (0 = max)."),
    ] = 0.0,
    config: ConfigOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the simulation goes.")] = Path(
        "out/demo"
    ),
    web_config_file: WebConfigOpt = None,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving",
            help="After the replay, keep serving /metrics until interrupted (make stack).",
        ),
    ] = False,
) -> None:
    """The main job on the embedded default: simulate, replay with live /metrics, score."""
    import socket

    from monitor.demo import DEFAULT_SCENARIO, run_demo
    from monitor.simulate import ScenarioError, load_scenario

    cfg = _load_config(config)
    web = _load_web_config(web_config_file)
    _output_dir(out_dir, "--out")
    try:
        spec = load_scenario(scenario or DEFAULT_SCENARIO)
    except (ScenarioError, OSError) as exc:
        _fail(exc)
    with socket.socket() as probe:  # before minutes of simulation, not after
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            _fail(f"--port {port}: {exc.strerror}; choose another port")
    raise typer.Exit(run_demo(spec, port, speed, cfg, out_dir, out, web, keep_serving))


@app.command()
def worker(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            help="Worker settings, YAML or JSON: examples/worker.yaml has every field with "
            "its default and meaning. VITALS_KAFKA_* variables fill the kafka: fields the "
            "file leaves out.",
        ),
    ] = None,
    web_config_file: WebConfigOpt = None,
) -> None:
    """Run the streaming worker (Faust) on Kafka until SIGINT/SIGTERM.

    Example settings, commented: examples/worker.yaml.
    """
    from streams.settings import WorkerSettings
    from streams.topology import run_worker

    _load_web_config(web_config_file)  # refused here, before any connection
    overrides = {} if web_config_file is None else {"web_config_file": web_config_file}
    try:
        settings = WorkerSettings.load(config, **overrides)
    except ValueError as exc:  # (the errors quote no input: secrets stay out)
        _fail(exc, 2)
    run_worker(settings)

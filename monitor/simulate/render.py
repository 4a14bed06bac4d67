"""Turn drawn arrays into the JSONL stream and its ground truth.

Lines are written in *arrival* order: event time plus a small delivery delay
(most within seconds, ``late_fraction`` up to ``arrival_jitter_seconds``), so
the file is roughly in event-time order with local jitter, while each
suggestion still precedes its own outcome and feedback. Then about
``duplicate_rate`` of the events are re-sent (same bytes, within
``duplicate_window_seconds`` of event time) and a few malformed lines are
inserted at random positions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.simulate.generator import OUTCOMES, FeatureDraw, draw_scenario
from monitor.simulate.spec import (
    BurdenShift,
    CategoricalInput,
    DecisionTimeShift,
    FlagSpike,
    Gradual,
    InputDrift,
    NewVersion,
    RateShift,
    ResponseDrop,
    ScenarioSpec,
    ScoreShift,
    Silence,
    VolumeLoss,
    _Degradation,
)
from monitor.simulate.truth_params import oracle_params

MALFORMED_KINDS: tuple[str, ...] = (
    "invalid_json",
    "unknown_field",
    "bad_slug",
    "schema_version",
    "out_of_range",
    "naive_timestamp",
)


@dataclass
class Stream:
    """A rendered scenario: the lines (no newlines) and the ground truth."""

    lines: list[str]
    truth: dict[str, Any]


def rfc3339(when: datetime) -> str:
    """UTC RFC 3339 with a ``Z`` suffix (milliseconds only when present)."""
    text = when.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def _timestamps(spec: ScenarioSpec, seconds: np.ndarray) -> list[str]:
    origin = np.datetime64(spec.start.astimezone(UTC).replace(tzinfo=None), "ms")
    ms = np.round(seconds * 1000.0).astype(np.int64).astype("timedelta64[ms]")
    return [s + "Z" for s in np.datetime_as_string(origin + ms, unit="ms").tolist()]


def _arrival_delay(spec: ScenarioSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    nz = spec.nuisance
    jitter = nz.arrival_jitter_seconds if nz.enabled else 0.0
    if jitter <= 0:
        return np.zeros(n)
    quick = np.minimum(rng.exponential(min(5.0, jitter / 10), size=n), jitter)
    late = rng.random(n) < nz.late_fraction
    return np.where(late, jitter * rng.uniform(0.2, 1.0, size=n), quick)


def _json_inputs(draw: FeatureDraw, keep: np.ndarray) -> list[str] | None:
    if not draw.inputs:
        return None
    columns = []
    for name, values in draw.inputs.items():
        vals = values[keep].tolist()
        if isinstance(draw.spec.inputs[name], CategoricalInput):
            columns.append([f'"{name}":"{v}"' for v in vals])  # codes are tokens: no escaping
        else:
            columns.append([f'"{name}":{v!r}' for v in vals])
    return [",".join(parts) for parts in zip(*columns, strict=True)]


def _feature_events(
    spec: ScenarioSpec, draw: FeatureDraw, ids: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Lines, event times, arrival keys and per-type counts for one feature."""
    horizon = spec.days * 86400.0
    n = len(draw)
    lost_s = np.zeros(n, dtype=bool)
    lost_o = np.zeros(n, dtype=bool)
    lost_f = np.zeros(n, dtype=bool)
    for series, start, end in draw.silenced:
        lost_s |= series & (draw.t >= start) & (draw.t < end)
        lost_o |= series & (draw.t_out >= start) & (draw.t_out < end)
        lost_f |= series & (draw.t_fb >= start) & (draw.t_fb < end)
    if draw.dropped is not None:  # volume loss: the whole suggestion never arrives
        lost_s |= draw.dropped
        lost_o |= draw.dropped
        lost_f |= draw.dropped
    keep_s = ~lost_s
    keep_o = draw.responded & (draw.t_out < horizon) & ~lost_o
    keep_f = draw.flagged & (draw.t_fb < horizon) & ~lost_f

    key_s = draw.t + _arrival_delay(spec, rng, n)
    key_o = np.maximum(draw.t_out + _arrival_delay(spec, rng, n), key_s + 1e-3)
    key_f = np.maximum(
        draw.t_fb + _arrival_delay(spec, rng, n), np.where(draw.responded, key_o, key_s) + 1e-3
    )

    feat = draw.spec.name
    id_s = [f"{i:07d}" for i in ids.tolist()]
    versions = np.array(draw.versions, dtype=object)
    sites = np.array(draw.sites, dtype=object)
    cares = np.array(draw.care_settings, dtype=object)

    # Suggestions.
    k = keep_s
    sid = [i for i, keep in zip(id_s, k.tolist(), strict=True) if keep]
    ts = _timestamps(spec, draw.t[k])
    extra_cols: list[list[str]] = []
    if draw.score is not None:
        extra_cols.append([f',"score":{v!r}' for v in draw.score[k].tolist()])
    if draw.draft is not None:
        extra_cols.append([f',"draft_length":{v}' for v in draw.draft[k].tolist()])
    inputs = _json_inputs(draw, k)
    if inputs is not None:
        extra_cols.append([',"inputs":{' + s + "}" for s in inputs])
    extras = ["".join(p) for p in zip(*extra_cols, strict=True)] if extra_cols else [""] * len(sid)
    lines = [
        f'{{"schema_version":1,"event_id":"ev-{i}-s","suggestion_id":"sg-{i}",'
        f'"occurred_at":"{at}","type":"suggestion","feature":"{feat}","model_version":"{v}",'
        f'"site":"{s}","care_setting":"{c}"{x}}}'
        for i, at, v, s, c, x in zip(
            sid,
            ts,
            versions[draw.version[k]].tolist(),
            sites[draw.site[k]].tolist(),
            cares[draw.care[k]].tolist(),
            extras,
            strict=True,
        )
    ]
    times = [draw.t[k]]
    keys = [key_s[k]]

    # Outcomes.
    k = keep_o
    oid = [i for i, keep in zip(id_s, k.tolist(), strict=True) if keep]
    ts = _timestamps(spec, draw.t_out[k])
    names = np.array(OUTCOMES, dtype=object)[draw.outcome[k]].tolist()
    reasons = np.array([*draw.spec.override_reasons, ""], dtype=object)[draw.reason[k]].tolist()
    cols: list[list[str]] = []
    if draw.edit_distance is not None:
        dist = draw.edit_distance[k].tolist()
        cols.append(
            [
                f',"edit_distance":{d}' if o < 2 else ""
                for d, o in zip(dist, draw.outcome[k].tolist(), strict=True)
            ]
        )
    if draw.final is not None:
        fin = draw.final[k].tolist()
        cols.append(
            [
                f',"final_length":{f}' if o < 2 else ""
                for f, o in zip(fin, draw.outcome[k].tolist(), strict=True)
            ]
        )
    cols.append([f',"override_reason":"{r}"' if r else "" for r in reasons])
    extras = ["".join(p) for p in zip(*cols, strict=True)]
    lines += [
        f'{{"schema_version":1,"event_id":"ev-{i}-o","suggestion_id":"sg-{i}",'
        f'"occurred_at":"{at}","type":"outcome","outcome":"{o}"{x}}}'
        for i, at, o, x in zip(oid, ts, names, extras, strict=True)
    ]
    times.append(draw.t_out[k])
    keys.append(key_o[k])

    # Feedback.
    k = keep_f
    fid = [i for i, keep in zip(id_s, k.tolist(), strict=True) if keep]
    ts = _timestamps(spec, draw.t_fb[k])
    cats = np.array(list(draw.spec.feedback_categories), dtype=object)[draw.category[k]].tolist()
    lines += [
        f'{{"schema_version":1,"event_id":"ev-{i}-f","suggestion_id":"sg-{i}",'
        f'"occurred_at":"{at}","type":"feedback","category":"{c}"}}'
        for i, at, c in zip(fid, ts, cats, strict=True)
    ]
    times.append(draw.t_fb[k])
    keys.append(key_f[k])
    sizes = (int(keep_s.sum()), int(keep_o.sum()), int(keep_f.sum()))
    return lines, np.concatenate(times), np.concatenate(keys), sizes


def _malformed(kind: str, template: dict[str, Any], serial: int, rng: np.random.Generator) -> str:
    obj = dict(template)
    obj["event_id"] = f"bad-{serial:04d}-s"
    obj["suggestion_id"] = f"bad-{serial:04d}"
    if kind == "unknown_field":  # a bridge renamed a field
        obj["confidence"] = obj.pop("score", 0.5)
    elif kind == "bad_slug":  # display name instead of the site code
        obj["site"] = obj["site"].replace("-", " ").title()
    elif kind == "schema_version":
        obj["schema_version"] = 2
    elif kind == "out_of_range":
        obj["score"] = round(1.0 + float(rng.random()), 3)
    elif kind == "naive_timestamp":
        obj["occurred_at"] = obj["occurred_at"].rstrip("Z").split(".")[0]
    text = json.dumps(obj, separators=(",", ":"))
    if kind == "invalid_json":
        text = text[: int(len(text) * rng.uniform(0.3, 0.9))]
    return text


def _signals(d: _Degradation) -> list[str]:
    local = [] if d.site == "*" and d.sites is None else ["site_outlier"]
    if isinstance(d, BurdenShift):
        return ["correction_burden"]
    if isinstance(d, DecisionTimeShift):
        return ["decision_time"]
    if isinstance(d, VolumeLoss):
        return ["no_data"]
    if isinstance(d, RateShift | Gradual):
        return ["acceptance_rate", *local]
    if isinstance(d, ScoreShift):
        return ["score_drift"]
    if isinstance(d, InputDrift):
        return ["input_drift"]
    if isinstance(d, FlagSpike):
        return ["flag_rate", *local]
    if isinstance(d, ResponseDrop):
        return ["response_rate", *local]
    if isinstance(d, Silence):
        return ["no_data"]
    assert isinstance(d, NewVersion)
    signals = []
    if d.acceptance_delta:
        signals.append("acceptance_rate")
    if d.no_response is not None:
        signals.append("response_rate")
    if d.correction_burden is not None:
        signals.append("correction_burden")
    if d.decision_time is not None:
        signals.append("decision_time")
    if d.score is not None:
        signals.append("score_drift")
    if d.flag_probability is not None:
        signals.append("flag_rate")
    return signals


_COMMON = {"id", "kind", "feature", "model_version", "site", "sites", "start", "end",
           "description", "label", "magnitude"}  # fmt: skip


def _describe(spec: ScenarioSpec, d: _Degradation) -> tuple[str, dict[str, Any]]:
    feat = spec.feature(d.feature)
    site = d.site if d.sites is None else ",".join(d.sites)
    where = f"{d.feature} v={d.model_version} site={site}"
    params = d.model_dump(mode="json", exclude=_COMMON, exclude_none=True)
    if isinstance(d, RateShift):
        text = f"acceptance {d.delta * 100:+.0f} points at {where}"
    elif isinstance(d, Gradual):
        text = (
            f"acceptance {d.delta * 100:+.0f} points linearly over {d.over_days:g} days at {where}"
        )
    elif isinstance(d, NewVersion):
        b = feat.correction_burden
        text = f"{d.model_version} replaces {d.replaces} in {len(d.phases)} phases"
        if d.correction_burden is not None and b is not None:
            text += f"; correction burden {b.mean:g} -> {d.correction_burden.mean:g}"
        if d.acceptance_delta:
            text += f"; acceptance {d.acceptance_delta * 100:+.0f} points"
    elif isinstance(d, ScoreShift):
        before = f"mean {feat.score.mean:.3f}" if feat.score else "no score"
        text = f"score distribution {before} -> mean {d.score.mean:.3f} at {where}"
    elif isinstance(d, InputDrift):
        text = f"input {d.input} distribution changes at {where}"
    elif isinstance(d, FlagSpike):
        text = f"flag probability {feat.flag_probability:g} -> {d.flag_probability:g} at {where}"
    elif isinstance(d, ResponseDrop):
        text = f"no-response probability {feat.no_response:g} -> {d.no_response:g} at {where}"
    elif isinstance(d, VolumeLoss):
        text = f"{d.fraction:.0%} of the suggestions from {where} never arrive"
    elif isinstance(d, BurdenShift):
        before = feat.correction_burden.mean if feat.correction_burden else 0.0
        text = f"correction burden {before:g} -> {d.correction_burden.mean:g} at {where}"
    elif isinstance(d, DecisionTimeShift):
        text = (
            f"decision time median {feat.decision_time.median:g} s -> "
            f"{d.decision_time.median:g} s at {where}"
        )
    else:
        text = f"no events from {where}" + (" for good" if d.end is None else "")
    return d.description or text, params


def render(spec: ScenarioSpec) -> Stream:
    """Draw and render the whole scenario in arrival order, with its truth."""
    draws = draw_scenario(spec)
    rng = np.random.default_rng([spec.seed, 1])
    nz = spec.nuisance

    # Suggestion ids numbered in global suggestion-time order.
    all_t = np.concatenate([d.t for d in draws])
    rank = np.empty(all_t.size, dtype=np.int64)
    rank[np.argsort(all_t, kind="stable")] = np.arange(all_t.size)
    offsets = np.cumsum([0] + [len(d) for d in draws])

    lines: list[str] = []
    times, keys = [], []
    counts = {"suggestions": 0, "outcomes": 0, "feedback": 0}
    for j, draw in enumerate(draws):
        ls, ts, ks, sizes = _feature_events(spec, draw, rank[offsets[j] : offsets[j + 1]], rng)
        lines += ls
        for name, n in zip(counts, sizes, strict=True):
            counts[name] += n
        times.append(ts)
        keys.append(ks)
    t = np.concatenate(times)
    key = np.concatenate(keys)
    n_valid = len(lines)

    # Duplicates: the same bytes re-sent within the window of event time.
    dup_rate = nz.duplicate_rate if nz.enabled else 0.0
    dup = np.flatnonzero(rng.random(n_valid) < dup_rate)
    room = np.maximum(nz.duplicate_window_seconds - (key[dup] - t[dup]), 0.0)
    dup_key = key[dup] + rng.random(dup.size) * room
    source = np.concatenate([np.arange(n_valid), dup])
    order = np.argsort(np.concatenate([key, dup_key]), kind="stable")
    ordered = [lines[i] for i in source[order].tolist()]

    # Malformed lines at random positions.
    n_mal = 0
    if nz.enabled and (nz.malformed_rate > 0 or nz.min_malformed > 0):
        n_mal = max(nz.min_malformed, round(nz.malformed_rate * len(ordered)))
    total = len(ordered) + n_mal
    positions = np.sort(rng.choice(total, size=n_mal, replace=False)) if n_mal else []
    kinds = rng.permutation(len(MALFORMED_KINDS))
    final: list[str] = []
    malformed: list[dict[str, Any]] = []
    taken = 0
    fallback = list(range(min(len(ordered), 50)))
    for m, pos in enumerate(int(p) for p in positions):
        step = pos - len(final)  # valid lines before this malformed one
        final.extend(ordered[taken : taken + step])
        taken += step
        kind = MALFORMED_KINDS[int(kinds[m % len(kinds)])]
        final.append(_malformed(kind, _template(final, ordered, fallback), m + 1, rng))
        malformed.append({"line": pos + 1, "kind": kind})
    final.extend(ordered[taken:])
    assert len(final) == total

    degradations = []
    rollouts = []
    by_feature = {draw.spec.name: draw for draw in draws}
    for d in spec.degradations:
        text, params = _describe(spec, d)
        signals = _signals(d)
        entry: dict[str, Any] = {
            "id": d.id,
            "kind": d.kind,  # type: ignore[attr-defined]
            "signals": signals,
            "feature": d.feature,
            "model_version": d.model_version,
            "site": d.site,
            "start": rfc3339(d.start),
            "end": rfc3339(d.end) if d.end is not None else None,
            "description": text,
            "params": params,
        }
        if isinstance(d, InputDrift):
            entry["input"] = d.input
        if isinstance(d, NewVersion):
            entry["replaces"] = d.replaces
        if d.sites is not None:
            entry["sites"] = list(d.sites)
        if d.label is not None:
            entry["class"] = d.label
            entry["magnitude"] = d.magnitude
            entry["oracle"] = oracle_params(spec, by_feature[d.feature], d)
        if signals:
            degradations.append(entry)
        else:  # a rollout that changes nothing watched: context, not a degradation
            rollouts.append(entry)

    responded = sum(int(d.responded.sum()) for d in draws)
    truth = {
        "scenario": spec.name,
        "description": spec.description,
        "seed": spec.seed,
        "start": rfc3339(spec.start),
        "end": rfc3339(spec.end),
        "events": len(ordered),
        "lines": len(final),
        "unique_events": n_valid,
        **counts,
        "no_response": sum(len(d) for d in draws) - responded,
        "duplicates": int(dup.size),
        "malformed_lines": [m["line"] for m in malformed],
        "malformed": malformed,
        "degradations": degradations,
    }
    if rollouts:
        truth["rollouts"] = rollouts
    return Stream(final, truth)


def _template(done: list[str], ordered: list[str], fallback: list[int]) -> dict[str, Any]:
    """The most recent valid suggestion, to corrupt into a malformed line."""
    for line in reversed(done[-200:]):
        if '"type":"suggestion"' in line and '"event_id":"bad-' not in line:
            try:
                return json.loads(line)
            except ValueError:
                continue
    for i in fallback:
        if '"type":"suggestion"' in ordered[i]:
            return json.loads(ordered[i])
    return json.loads(ordered[0]) if ordered else {"schema_version": 1, "type": "suggestion"}

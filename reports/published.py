"""Published numbers (package data, ``reports/published/*.csv``) and our results beside
them: for every cell that has a published number, ours, theirs, the difference, and the
protocol differences named (split, evaluation size, model selection, Fa code, label type,
and where ours is a reduced schedule, that too)."""

from __future__ import annotations

import json
from importlib import resources
from io import StringIO

import pandas as pd

from benchmark.cells import parse_spec, parse_value

COLUMNS = ["source", "detector", "scheme", "labels", "train_dataset", "test_dataset", "metric", "value", "selection", "notes"]
D2D_SCHEMES = {"Full": "full", "LESPS": "lesps", "PAL": "pal", "MCLC": "mclc", "Ours": "diffusion"}
METRIC_NAMES = {"IoU": "iou", "nIoU": "niou", "Pd": "pd", "Fa": "fa", "seconds_per_target": "seconds_per_target"}
REAL_DATASETS = {"SIRST", "NUDT-SIRST", "IRSTD-1K", "SIRST3"}


def _read(name: str) -> pd.DataFrame:
    text = (resources.files("reports") / "published" / name).read_text(encoding="utf-8")
    return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)


def _d2d_table(frame: pd.DataFrame, source: str, per_dataset: bool) -> pd.DataFrame:
    """Diffuse to Detect's Table 1/2 in the long format of the other files."""
    scheme = frame["scheme"].map(D2D_SCHEMES)
    return pd.DataFrame({
        "source": source, "detector": frame["detector"], "scheme": scheme,
        "labels": ["full" if s == "full" else "centroid" for s in scheme],
        "train_dataset": frame["dataset"] if per_dataset else "SIRST3", "test_dataset": frame["dataset"],
        "metric": frame["metric"], "value": frame["value"], "selection": "best",
        "notes": "D2D paper Table 2" if per_dataset else "D2D paper Table 1",
    })


def published_frame() -> pd.DataFrame:
    """Every published number, one a row, in harness names; duplicates across sources
    (D2D's README repeats its Table 1) are kept once, under the first source."""
    names = sorted(p.name for p in (resources.files("reports") / "published").iterdir() if p.name.endswith(".csv"))
    parts = []
    for name in names:
        source = name.removesuffix(".csv")
        if source == "protocols":
            continue
        frame = _read(name)
        if "scheme" in frame and set(frame["scheme"]) <= set(D2D_SCHEMES):
            parts.append(_d2d_table(frame, source, per_dataset="table2" in source))
        else:
            parts.append(frame.assign(source=source)[COLUMNS])
    frame = pd.concat(parts, ignore_index=True)
    frame["metric"] = frame["metric"].map(METRIC_NAMES)
    frame["value"] = frame["value"].astype(float)
    order = {s: i for i, s in enumerate(["diffuse_to_detect_table1", "diffuse_to_detect_table2"])}
    frame = frame.sort_values("source", key=lambda s: s.map(lambda v: order.get(v, len(order))), kind="stable")
    identity = ["detector", "scheme", "labels", "train_dataset", "test_dataset", "metric", "selection", "value"]
    return frame.drop_duplicates(identity, keep="first").reset_index(drop=True)


def protocols() -> pd.DataFrame:
    return _read("protocols.csv").set_index("source")


def _norm(value: object) -> str:
    return str(parse_value(str(value))).lower()


def spec_matches(published: str, spec: str, options: dict) -> bool:
    """Does our variant (written ``spec``, resolved ``options``) run the published one?

    Every option the published spec names must equal ours, and every option we wrote
    must be one it names (``diffusion`` matches ``diffusion[prior=both]`` when both is
    the default; ``diffusion[balance=off]`` does not).
    """
    name, theirs = parse_spec(published)
    ours_name, written = parse_spec(spec)
    if name != ours_name or not set(written) <= set(theirs):
        return False
    return all(k in options and _norm(options[k]) == _norm(v) for k, v in theirs.items())


def our_protocol(row: dict, selection: str) -> dict[str, str]:
    dataset = row["dataset"]
    return {"split": "standard" if dataset in REAL_DATASETS else "synthetic", "eval_size": "original",
            "selection": selection, "fa_code": "fixed", "label_type": row["labels"]}


def differences(ours: dict[str, str], row: dict, protocol: dict, metric: str, extra: list[str]) -> str:
    """The protocol differences of one comparison, named."""
    theirs = {"split": protocol["split"], "eval_size": protocol["eval_size"],
              "selection": row["selection"] if row["selection"] not in ("", "unknown") else protocol["selection"],
              "fa_code": protocol["fa_code"] if metric == "fa" else "-",
              "label_type": row["labels"] if protocol["label_type"] == "row" else protocol["label_type"]}
    names = {"split": "split", "eval_size": "evaluation size", "selection": "model selection", "fa_code": "Fa code",
             "label_type": "label type"}
    out = []
    for field, label in names.items():
        mine, other = ours.get(field, "-"), theirs[field] or "unknown"
        if field == "fa_code" and metric != "fa" or other == "-":
            continue
        if mine != other:
            out.append(f"{label}: ours {mine}, theirs {other}")
    return "; ".join(out + extra)


def _matches(pairs: pd.DataFrame) -> pd.Series:
    """spec_matches over candidate pairs, computed once per distinct (published, ours) pair."""
    cache: dict[tuple, bool] = {}

    def one(key: tuple) -> bool:
        if key not in cache:
            cache[key] = spec_matches(key[0], key[1], json.loads(key[2] or "{}"))
        return cache[key]

    keys = zip(pairs["scheme_pub"], pairs["method_spec"], pairs["options"])
    return pd.Series([one(k) for k in keys], index=pairs.index, dtype=bool)


def _candidates(published: pd.DataFrame, ours: pd.DataFrame, label_quality: bool) -> pd.DataFrame:
    """Pairs of our summary rows and published rows of the same data, detector (or none
    stated), labels (or none stated) and scheme; label quality (sources with no
    evaluation size) only against label records, and training results only against the rest."""
    pub = published[published["label_quality"] == label_quality].add_suffix("_pub")
    ours = ours.assign(options=ours.get("options", "{}"), test=ours["dataset"].where(ours["subset"] == "all", ours["subset"]))
    if label_quality:
        pairs = ours.merge(pub, how="cross")
        pairs = pairs[(pairs["train_dataset_pub"] == pairs["dataset"]) | (pairs["train_dataset_pub"] == "")]
        pairs = pairs[pairs["metric_pub"].isin(["iou", "seconds_per_target"])]
    else:
        pairs = ours.merge(pub, left_on=["dataset", "test"], right_on=["train_dataset_pub", "test_dataset_pub"])
        pairs = pairs[(pairs["detector_pub"] == pairs["detector"]) | (pairs["detector_pub"] == "")]
    pairs = pairs[(pairs["labels_pub"] == pairs["labels"]) | (pairs["labels_pub"] == "")]
    return pairs[_matches(pairs)] if len(pairs) else pairs


def _extra(row: dict, label_quality: bool) -> list[str]:
    extra = []
    if not label_quality and row.get("profile") != "paper":
        extra.append(f"schedule: ours the reduced '{row.get('profile')}' profile")
    if not label_quality and not row["detector_pub"]:
        extra.append("their detector not stated")
    limit = row.get("max_test_images")
    if not label_quality and limit is not None and pd.notna(limit):
        extra.append(f"test images: ours the first {int(float(limit))}")
    return extra


def _row(pair: dict, selection: str, protocol: dict, label_quality: bool) -> dict:
    metric = pair["metric_pub"]
    theirs = {"selection": pair["selection_pub"], "labels": pair["labels_pub"]}
    return {
        "source": pair["source_pub"], "detector": "" if label_quality else pair["detector"], "scheme": pair["method_spec"],
        "labels": pair["labels"], "train": pair["dataset"], "test": pair["test_dataset_pub"] or pair["dataset"],
        "metric": metric, "selection": selection, "ours": pair[metric], "ours_std": pair.get(f"{metric}_std"),
        "seeds": pair["seeds"], "theirs": pair["value_pub"], "difference": pair[metric] - pair["value_pub"],
        "differences": differences(our_protocol(pair, selection), theirs, protocol, metric, _extra(pair, label_quality)),
        "caveat": protocol["caveat"],
    }


def compare(summaries: dict[str, pd.DataFrame], labels_summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ours beside theirs. ``summaries``: selection -> ``summarize_variants(subset=None)``;
    a published row with an unstated selection is held against our best epoch."""
    published, proto = published_frame(), protocols()
    published["label_quality"] = published["source"].map(proto["eval_size"]) == "-"
    by_source = proto.to_dict("index")
    sources = [(sel, s, False) for sel, s in summaries.items() if not s.empty]
    if labels_summary is not None and not labels_summary.empty:
        sources.append(("-", labels_summary.assign(subset="all"), True))
    rows = []
    for selection, summary, label_quality in sources:
        pairs = _candidates(published, summary, label_quality)
        if not label_quality and len(pairs):  # filtered before ``to_dict``, the slow part
            wanted = pairs["selection_pub"].where(pairs["selection_pub"].isin(["best", "last"]), "best")
            pairs = pairs[wanted == selection]
        for pair in pairs.to_dict("records"):
            if pd.isna(pair.get(pair["metric_pub"])):
                continue
            rows.append(_row(pair, selection, by_source[pair["source_pub"]], label_quality))
    return pd.DataFrame(rows)

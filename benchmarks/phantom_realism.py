"""Issue 23's acceptance checks: generation-2 synthetic cases against published references.

Renders a few generation-2 cases (full-size CT where the check needs it) and draws many more
without pixels for the geometric and population checks, then prints one row per quantity: the
value measured on generation 2 (and on generation 1 where it is cheap), the reference value
and its source (``bcl_core.phantom.realism.REFERENCES``; the same table as docs/phantom.md).

Usage: python benchmarks/phantom_realism.py [--full 3] [--compact 10] [--specs 300]
       [--ks-cases 500] [--surround 50] [--mr 3] [--seed 23] [--skip-generation-1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from bcl_core.phantom import realism
from bcl_core.phantom.ct import ct_grid, render_ct
from bcl_core.phantom.mr import mr_grid, render_mr_series
from bcl_core.phantom.paint import paint_labels
from bcl_core.phantom.spec import CaseSpec, sample_case_spec


def _in_range(value: float, reference: str) -> bool:
    """Whether a value meets a reference written as 'a-b', 'a..b', '< a', '>= a', 'a +- b'."""
    text = reference.replace(" ", "")
    if np.isnan(value):
        return False
    for op, test in (("<=", lambda v, a: v <= a), (">=", lambda v, a: v >= a),
                     ("<", lambda v, a: v < a), (">", lambda v, a: v > a)):
        if text.startswith(op):
            return bool(test(value, float(text[len(op):])))
    if "+-" in text:
        centre, tol = (float(p) for p in text.split("+-"))
        return abs(value - centre) <= tol
    for sep in ("..", "-"):
        if sep in text[1:]:
            i = text.index(sep, 1)
            return float(text[:i]) <= value <= float(text[i + len(sep):])
    return value == float(text)


def _specs(generation: int, count: int, seed: int, site: str = "internal") -> list[CaseSpec]:
    return [sample_case_spec(site, seed, i, generation) for i in range(count)]


def _ct_checks(args: argparse.Namespace, out: dict[str, Any], generation: int) -> None:
    """Noise, texture, endplates, cortex: full-size cases rendered with and without noise."""
    peaks, lows, adj, nonadj, sd_corr, ratio, gaps, cortex = [], [], [], [], [], [], [], []
    for n in range(args.full):
        site = "external" if n % 3 == 2 else "internal"
        spec = sample_case_spec(site, args.seed, n, generation)
        noisy, _ = render_ct(spec)
        clean, _ = render_ct(spec, noise=False)
        noise = realism.noise_roi(noisy, clean, spec)
        peak, low = realism.nps_figures(noise, noisy.spacing[0])
        peaks.append(peak)
        lows.append(low)
        adj.append(realism.slice_correlation(noise, 1))
        nonadj.append(realism.slice_correlation(noise, 2))
        sd_corr.append(realism.noise_sd_path_correlation(noisy, clean, spec))
        labels, lo = realism.spine_labels(spec, ct_grid(spec, compact=False))
        if site == "internal":
            along_z, in_plane = realism.texture_correlations(clean, spec, labels, lo)
            ratio.append(along_z / in_plane)
            gaps.append(realism.endplate_gap_fraction(noisy, spec))
        cortex.append(realism.pedicle_cortex_peak_hu(clean, labels, lo, spec))
    out["nps_peak_per_mm"] = (float(np.median(peaks)), f"{len(peaks)} full-size cases")
    out["nps_low_ratio"] = (float(np.max(lows)), "worst case")
    out["noise_corr_nonadjacent"] = (float(np.max(nonadj)),
                                     f"worst case; adjacent {np.mean(adj):.2f}")
    out["noise_sd_path_corr"] = (float(np.min(sd_corr)), "worst case, over slices")
    out["texture_z_over_xy"] = (float(np.min(ratio)) if ratio else float("nan"),
                                "worst internal case")
    out["endplate_gap_fraction"] = (float(np.max(gaps)) if gaps else float("nan"),
                                    "worst internal case")
    out["pedicle_cortex_peak_hu"] = (float(np.median(cortex)), "median of cases")


def _compaction(args: argparse.Namespace, out: dict[str, Any], generation: int) -> None:
    diffs = []
    for n in range(args.compact):
        spec = sample_case_spec("internal", args.seed + 1, n, generation)
        clean, _ = render_ct(spec, compact=True, noise=False)
        labels, lo = realism.spine_labels(spec, ct_grid(spec, compact=True))
        diffs.append(realism.compaction_difference_hu(clean, labels, lo, spec))
    out["compaction_hu"] = (float(np.nanmedian(diffs)), f"{args.compact} compact cases")


def _geometry(args: argparse.Namespace, out: dict[str, Any], gen1: dict[str, Any]) -> None:
    for generation, target in ((2, out), (1, gen1)):
        specs = _specs(generation, args.specs, args.seed + 2)
        l5s1 = [realism.lumbosacral_lordosis_deg(s) for s in specs]
        tl = [realism.cobb_deg(s, "T10", "L2") for s in specs]
        thoracic = [realism.cobb_deg(s, "T5", "T12") for s in specs]
        wedges = [float(realism.body_heights(v, s, False)[0] / realism.body_heights(v, s, False)[2])
                  for s in specs for v in s.anatomy.vertebrae
                  if v.level in ("T10", "T11", "T12", "L1") and v is not s.anatomy.target]
        depth = [realism.body_depth_over_table(v) for s in specs[:50] for v in s.anatomy.vertebrae]
        target["l5s1_lordosis_deg"] = (_range(l5s1), f"{len(specs)} cases")
        target["t10l2_kyphosis_deg"] = (_range(tl), f"{len(specs)} cases, any target")
        target["t5t12_kyphosis_deg"] = (_range(thoracic), f"{len(specs)} cases")
        target["wedge_ratio_t10_l1"] = (_range(wedges), "intact bodies")
        target["depth_over_table"] = (_range(depth), "every level")
        biconcave = [s for s in specs if s.features.fracture_type == "biconcave"]
        ant_post, mid_margin = [], []
        for s in biconcave:
            a, m, p = realism.body_heights(s.anatomy.target, s, True)
            ant_post.append(a / p)
            mid_margin.append(m / min(a, p))
        target["biconcave_ant_post"] = (_range(ant_post), f"{len(biconcave)} biconcave")
        target["biconcave_mid_over_margin"] = (float(np.max(mid_margin)), "worst case")
        reductions = [realism.genant_reduction(s) for s in specs]
        target["genant_min_reduction"] = (float(np.min(reductions)),
                                          f"grade 0 in {np.mean(np.array(reductions) < 0.2):.1%}")
        if generation == 2:
            clefts = [s for s in specs if s.fracture.cleft_center is not None]
            out["_morphology"] = (
                f"clefts {len(clefts) / len(specs):.0%} of fractures "
                f"({np.mean([s.fracture.cleft_gas for s in clefts]):.0%} gas on CT), fracture "
                f"lines {np.mean([s.fracture.fracture_line is not None for s in specs]):.0%}")


def _range(values: list[float]) -> tuple[float, float]:
    return float(np.min(values)), float(np.max(values))


def _population(args: argparse.Namespace, out: dict[str, Any], gen1: dict[str, Any]) -> None:
    for generation, target in ((2, out), (1, gen1)):
        specs = _specs(generation, args.ks_cases, args.seed + 3)
        widths_target = [s.features.basivertebral_foramen_mm for s in specs]
        widths_other = [v.foramen_mm for s in specs for v in s.anatomy.vertebrae
                        if v is not s.anatomy.target and abs(
                            s.anatomy.vertebrae.index(v) - s.anatomy.target_index) == 1]
        if generation == 2:
            p = stats.ks_2samp(widths_target, widths_other).pvalue
            target["foramen_ks_p"] = (float(p), f"{len(specs)} cases, neighbours")
        else:
            target["foramen_ks_p"] = (0.0, "neighbours have no foramen")
        few = specs[:args.surround]
        target["lung_beside_t11"] = (float(np.mean([realism.lung_beside(s, "T11") for s in few])),
                                     f"{len(few)} cases")
        target["kidney_at_l1l2"] = (float(np.mean([realism.kidney_beside(s) for s in few])),
                                    f"{len(few)} cases")
        target["trunk_area_range"] = (float(np.median([realism.trunk_area_range(s)
                                                       for s in few])), "median")


def _surroundings_gas(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from bcl_core.phantom.ct import trunk_slab_labels
    from bcl_core.phantom.grid import affine_coords
    from bcl_core.phantom.trunk import paint_trunk

    total = 0
    for n in range(3):
        spec = sample_case_spec("internal", args.seed, n, 2)
        grid = ct_grid(spec, compact=False)
        nj, ni = grid.shape[1:]
        for k0 in range(0, grid.shape[0], 40):
            slab = trunk_slab_labels(spec, grid, k0, k0 + 1)
            matrix, offset = grid.index_affine()
            x, y, z = affine_coords(matrix, offset, (0, 0, k0), (ni, nj, k0 + 1))
            trunk = np.empty_like(slab)
            paint_trunk(trunk, x, y, spec.anatomy, z)
            total += realism.gas_over_muscle(slab, trunk)
    out["gas_over_muscle"] = (float(total), "3 cases, every 40th slice")


def _artefacts(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from bcl_core.phantom.writer import truth_record

    keys = ("ct_cupping_hu", "ct_streaks", "mr_gibbs", "mr_ghosting", "mr_flow_voids")
    specs = _specs(2, 20, args.seed + 4)
    present = all(all(k in truth_record(s, False)["artefacts"] for k in keys) for s in specs)
    streaked = sum(bool(s.artefacts["ct_streaks"]) for s in specs)
    out["artefacts_recorded"] = ("all" if present else "missing",
                                 f"20 cases; {streaked} with streaks from cement / screws")


def _mr(args: argparse.Namespace, out: dict[str, Any], generation: int) -> None:
    sequences = ("t2", "stir", "t1") if generation == 2 else ("t2",)
    ratios: dict[str, list[float]] = {k: [] for k in (
        "t2_oedema_over_marrow", "stir_fat_over_csf", "stir_oedema_over_marrow",
        "t1_oedema_over_marrow")}
    found = 0
    for n in range(200):
        spec = sample_case_spec("internal", args.seed + 5, n, generation)
        if spec.features.oedema_extent < 0.6 or found >= args.mr:
            continue
        found += 1
        grid = mr_grid(spec, compact=False)
        full_labels, _ = paint_labels(spec, grid, (0, 0, 0), grid.shape[::-1])
        images, _ = render_mr_series(spec, sequences=sequences)
        means = {seq: realism.mr_tissue_means(images[seq], full_labels, spec)
                 for seq in sequences}
        ratios["t2_oedema_over_marrow"].append(means["t2"]["oedema"] / means["t2"]["marrow"])
        if generation == 1:
            continue
        ratios["stir_fat_over_csf"].append(means["stir"]["fat"] / means["stir"]["csf"])
        ratios["stir_oedema_over_marrow"].append(means["stir"]["oedema"]
                                                 / means["stir"]["marrow"])
        ratios["t1_oedema_over_marrow"].append(means["t1"]["oedema"] / means["t1"]["marrow"])
    for key, values in ratios.items():
        if values:
            out[key] = (_range(values), f"{found} cases with oedema >= 60 %")


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "-".join(f"{v:.3g}" for v in value) if len(value) == 2 else str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _met(value: Any, reference: str) -> bool:
    if isinstance(value, str):
        return value == reference
    values = value if isinstance(value, tuple) else (value,)
    return all(_in_range(float(v), reference) for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", type=int, default=3, help="full-size cases rendered (CT)")
    parser.add_argument("--compact", type=int, default=10, help="compact cases (compaction)")
    parser.add_argument("--specs", type=int, default=300, help="cases drawn for geometry")
    parser.add_argument("--ks-cases", type=int, default=500, help="cases for the KS test")
    parser.add_argument("--surround", type=int, default=50, help="cases for lungs / kidneys")
    parser.add_argument("--mr", type=int, default=3, help="full-size MR cases per sequence")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--skip-generation-1", action="store_true",
                        help="measure the rendered quantities on generation 2 only")
    args = parser.parse_args()
    start = time.perf_counter()
    gen2: dict[str, Any] = {}
    gen1: dict[str, Any] = {}
    steps: list[Callable[[], None]] = [
        lambda: _ct_checks(args, gen2, 2), lambda: _compaction(args, gen2, 2),
        lambda: _geometry(args, gen2, gen1), lambda: _population(args, gen2, gen1),
        lambda: _surroundings_gas(args, gen2), lambda: _artefacts(args, gen2),
        lambda: _mr(args, gen2, 2)]
    if not args.skip_generation_1:
        steps += [lambda: _ct_checks(args, gen1, 1), lambda: _compaction(args, gen1, 1),
                  lambda: _mr(args, gen1, 1)]
    for step in steps:
        step()
    print("| item | quantity | generation 2 | generation 1 | reference | source | met | "
          "measured on |")
    print("|---|---|---|---|---|---|---|---|")
    for key, ref in sorted(realism.REFERENCES.items(), key=lambda kv: kv[1].item):
        value, note = gen2.get(key, (float("nan"), "not measured"))
        old = gen1.get(key, ("", ""))[0]
        met = "yes" if _met(value, ref.reference) else "NO"
        print(f"| {ref.item} | {ref.quantity} | {_fmt(value)} | {_fmt(old) if old != '' else '-'}"
              f" | {ref.reference} | {ref.source} | {met} | {note} |")
    if "_morphology" in gen2:
        print(f"\nFracture morphology (generation 2): {gen2['_morphology']}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

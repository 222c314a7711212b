"""How far the classifier's crop centre moves when the segmentation model's mask replaces the
generator's: distance between the two body centres (``bcl_core.predict.roi.mask_body_centre``) per case.

    python research/body_centre_agreement.py --site external --seed 6161 --cases 40

Training crops use the generator's masks and inference uses the models' masks, so this is the
crop shift the classifier sees at inference (training augments with shifts up to 3.75 mm).
"""

from __future__ import annotations

import json
import logging

import numpy as np

logger = logging.getLogger("body_centre_agreement")


def main() -> None:
    """Print one JSON line: median, 90th percentile and maximum distance (mm) per modality."""
    from bcl_core.evaluation.phantom_pipeline import script_arguments
    from bcl_core.phantom.ct import render_ct
    from bcl_core.phantom.mr import render_mr
    from bcl_core.phantom.spec import sample_case_spec
    from bcl_core.phantom.writer import truth_record
    from bcl_core.predict.roi import mask_body_centre
    from bcl_core.predict.segment import model_for, segment_vertebra

    args = script_arguments(__doc__.splitlines()[0], seed=6161, cases=40)
    logger.setLevel(logging.INFO)
    distances: dict[str, list[float]] = {"ct": [], "mr": []}
    for index in range(args.cases):
        spec = sample_case_spec(args.site, args.seed, index)
        truth = truth_record(spec, compact=True)
        for name, render in (("ct", render_ct), ("mr", render_mr)):
            series, mask = render(spec, True)
            predicted = segment_vertebra(series, truth[f"{name}_point_mm"], model_for(series))
            distances[name].append(float(np.linalg.norm(
                mask_body_centre(mask) - mask_body_centre(predicted))))
    out = {"site": args.site, "seed": args.seed, "cases": args.cases}
    for name, values in distances.items():
        v = np.asarray(values)
        out[name] = {"median_mm": round(float(np.median(v)), 2),
                     "p90_mm": round(float(np.percentile(v, 90)), 2),
                     "max_mm": round(float(v.max()), 2),
                     "over_3.75_mm": int((v > 3.75).sum())}
    logger.info(json.dumps(out))


if __name__ == "__main__":
    main()

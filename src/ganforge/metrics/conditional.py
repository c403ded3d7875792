"""Conditional sources: does each image show the class asked for, and is each class drawn well
and in its own variety?

- label_accuracy: the share of images the feature network reads as the label they were drawn for.
- intra_fid: the mean over classes of the FID between a class's samples and the reference
  images of that class (Miyato & Koyama 2018); class_fid lists them.
- class_recall and class_spread: per class, improved recall (k = 3) and the feature spread
  (sqrt of the ratio of total variances) against the real images of that class; a class drawn
  the same way whatever z is scores near 0 in both, however good its one image.
"""

from __future__ import annotations

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Key, MetricInputs, register_metric
from ganforge.metrics.fid import frechet_distance, gaussian
from ganforge.metrics.pr import precision_recall
from ganforge.metrics.spread import total_variance


# (added by `evaluate` whenever the images come with the labels they were drawn for)
@register_metric("conditional", keys=[Key("label_accuracy", "label accuracy", "higher"),
                                      Key("intra_fid", "intra-class FID", "lower"),
                                      Key("mean_class_recall", "mean class recall", "higher"),
                                      Key("min_class_spread", "min class spread", "higher")],
                 default="never", order=90)
def conditional(inputs: MetricInputs) -> dict[str, object]:
    generated, reference = inputs.generated, inputs.reference
    if generated.labels is None or reference.labels is None:
        raise GanforgeError("the conditional metrics need the label of every image (a conditional "
                            "run or generator, or --real --conditional) and a labelled dataset")
    # (features without classes, the random embedding: no label accuracy)
    accuracy = float((generated.probabilities.argmax(1) == generated.labels).float().mean()) \
        if generated.probabilities.shape[1] else None
    fids, recalls, spreads = [], [], []
    for label in generated.labels.unique().tolist():
        drawn = generated.features[generated.labels == label]
        real = reference.features[reference.labels == label]
        if len(drawn) < 4 or len(real) < 4:
            raise GanforgeError(f"class {label} has {len(drawn)} samples against {len(real)} real "
                                "images; draw at least 4 per class (more for stable numbers)")
        fids.append(frechet_distance(*gaussian(drawn), *gaussian(real)))
        recalls.append(precision_recall(real, drawn)[1])
        spreads.append((total_variance(drawn) / total_variance(real)) ** 0.5)
    return {
        **({"label_accuracy": accuracy} if accuracy is not None else {}),
        "intra_fid": sum(fids) / len(fids),
        "mean_class_recall": sum(recalls) / len(recalls),
        "min_class_spread": min(spreads),
        "class_fid": [round(value, 4) for value in fids],
        "class_recall": [round(value, 4) for value in recalls],
        "class_spread": [round(value, 4) for value in spreads],
    }

"""Learnable distance (ECCV'24 point-supervised panoptic segmentation), transplanted to
IRSTD points: point queries, a distance branch trained by the points, pseudo-labels by
the assignment rule that supervise the detector and keep being refreshed.

There is no public code: the transplant is ours (reference/new-methods.md section 3);
``protocol`` states every choice, one line each. The branch and its rules live in
``methods._distance_branch`` and ``methods._distance_rules``; this module wires them to
the engine: the branch is a method-owned part with an optimizer of its own, it reads the
detector's decoder features of each training batch, and ``end_epoch`` relabels the
training split from the features of whole images.

Two stages, as in the paper: for ``warmup`` epochs the branch trains alone (the distance
loss only, end to end into the detector's features; the detector's output is not
supervised); then the pseudo-labels supervise the detector beside the distance loss and
are remade every ``refresh`` epochs. In stage 2 the branch reads, by default, a copy of
the detector frozen at the warm-up's end (``stage2_features=warmup``): reading the
training detector's own features closed a loop (the detector, trained on the labels,
bent the features the labels were made from, and the labels grew at every refresh). At the
warm-up's end the detector itself restarts from its initial weights with a fresh optimizer
state (``restart=on``): the paper trains the pseudo-label network and then the segmentation
network; continuing from the warm-up's weights left the head's outputs on the targets
saturated (SIRST, cpu profile: p ~ 0.0003 on pseudo-label pixels, below the 0.01 prior), so
SoftIoU's gradient vanished and the detector never fired. The hand-crafted distances (``euclidean``,
``feature-cosine``) have nothing to warm up: their labels are made at setup and remade on
the same period.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from benchmark.data.points import point_map
from benchmark.errors import ConfigError
from benchmark.lazy import lazy_module
from methods.base import Method, MethodContext, register_method

torch = lazy_module("torch")  # listing and planning import no torch
F = lazy_module("torch.nn.functional")
branch_mod = lazy_module("methods._distance_branch")
rules = lazy_module("methods._distance_rules")
contract = lazy_module("benchmark.contract")
if TYPE_CHECKING:
    from benchmark.contract import LossValue, Part
    from detectors.base import DetectorOutput
    from methods._distance_branch import BranchConfig, DistanceBranch

DISTANCES = ("learned", "euclidean", "feature-cosine")
STAGE2_FEATURES = ("live", "detached", "warmup")  # what the branch reads in stage 2 (see ``branch_features``)
LABEL_CHUNK = 16  # images whose features are held at once while relabelling


def _protocol() -> str:
    return "\n".join(
        [
            "Learnable distance (ECCV'24, panoptic, no public code): our transplant to IRSTD points (new-methods.md section 3):",
            "- queries: one per annotated point, the embedded decoder feature at the point, plus `background` learned background queries",
            "- pixels: the detector's decoder features (DetectorOutput.features, upsampled to the input size when strided), embedded by a 2-layer MLP",
            "- support: a (2*support+1)^2 square around each point; distances and labels exist only inside the supports",
            "- distance branch: each query cross-attends to the pixels of its support (background queries: all supports of the image)",
            "- distance: squared Euclidean distance between the projected query and the projected pixel, per channel",
            "- rounds: predict -> aggregate -> enhance -> predict again, `rounds` times; every round's prediction is supervised",
            "- aggregation: pixels soft-assigned over the queries holding them (softmax of -distance/tau), their mean feature added to the query",
            "- enhancement: self-attention among the queries of an image (one post-norm transformer layer)",
            "- supervision: distance 0 at a query's own point; >= margin (squared hinge) at other points and at background pixels",
            "- background rule: support pixels farther than `bg_radius` px from every point (IRSTD targets are < 9x9 px)",
            "- assignment rule: a pixel is target when nearer a target query (within its support) than every background query; points stay target",
            "- stage 1: `warmup` epochs of the distance loss alone, end to end into the detector's features; the detector's output is unsupervised",
            "- stage 2: the detector's loss (the profile's SoftIoU) on the pseudo-labels plus the distance loss on the features the branch reads",
            "- stage2_features=warmup (default): in stage 2 the branch reads the detector frozen at the warm-up's end, as the paper's pseudo-label"
            " stage precedes the segmentation training; `live` (the training detector's features) let the detector's loss on the labels bend the"
            " features the labels come from, and the labels grew at each refresh (quick, seed 0); `detached`: live features without the branch's gradient",
            "- restart=on (default): at the warm-up's end the detector restarts from its initial weights and a fresh optimizer state,"
            " as the paper's segmentation network trains after its pseudo-label network; continuing left its target outputs saturated (SIRST)",
            "- refresh: the training split relabelled from whole-image features (eval mode, of the detector the branch reads) after the warm-up and every `refresh` epochs, not after the last",
            "- the branch has its own Adam at `branch_lr`, unscheduled; it is not used at test time (the detector alone predicts)",
            "- distance=euclidean: pixel-to-point distance, background on the ring at bg_radius (discs of bg_radius/2 split by the nearest point)",
            "- distance=feature-cosine: 1 - cosine of the decoder features to the feature at the point; background: the mean background-rule feature",
            "- hand-crafted distances: no branch, no warm-up; labels made at setup and refreshed on the same period",
        ]
    )


@register_method
class LearnableDistance(Method):
    name = "learnable_distance"
    description = "learnable distance (ECCV'24, transplanted): point queries, a distance branch by cross-attention, refreshed pseudo-labels"
    protocol = _protocol()
    label_types = ("centroid", "coarse")
    defaults = {
        "distance": "learned",  # learned | euclidean | feature-cosine
        "rounds": 2,  # 0..3 (the paper: 2-3 saturate)
        "aggregation": True,
        "enhancement": True,
        "warmup": 5,  # epochs of the branch alone (stage 1)
        "refresh": 5,  # epochs between relabellings (stage 2)
        "dim": 32,
        "background": 4,  # learned background queries
        "support": 10,
        "bg_radius": 7.0,
        "margin": 1.0,
        "tau": 0.25,
        "branch_lr": 1e-3,
        "stage2_features": "warmup",  # warmup | live | detached: the features the branch reads after the warm-up
        "restart": True,  # the detector restarts from its initial weights at the warm-up's end (needs stage2_features=warmup)
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        if o["distance"] not in DISTANCES:
            raise ConfigError(f"learnable_distance distance={o['distance']!r}: use one of {', '.join(DISTANCES)}")
        if not 0 <= int(o["rounds"]) <= 3:
            raise ConfigError(f"learnable_distance rounds={o['rounds']!r}: use 0, 1, 2 or 3")
        if int(o["refresh"]) < 1:
            raise ConfigError(f"learnable_distance refresh={o['refresh']!r}: the refresh period must be >= 1 epoch")
        if o["stage2_features"] not in STAGE2_FEATURES:
            raise ConfigError(f"learnable_distance stage2_features={o['stage2_features']!r}: use one of {', '.join(STAGE2_FEATURES)}")
        if self.learned and o["restart"] and o["stage2_features"] != "warmup":
            raise ConfigError(f"learnable_distance restart=on with stage2_features={o['stage2_features']}: the branch would read a "
                              "detector restarted from scratch; use stage2_features=warmup or restart=off")
        if self.learned and int(o["warmup"]) < 1:
            raise ConfigError(f"learnable_distance warmup={o['warmup']!r}: the learned branch needs >= 1 warm-up epoch")
        self.branch: DistanceBranch | None = None
        self.snapshot: Any = None  # stage2_features=warmup: the detector frozen at the end of the warm-up
        self.initial_state: dict[str, Any] | None = None  # restart=on: the detector's weights before any step

    @property
    def learned(self) -> bool:
        return self.options["distance"] == "learned"

    @property
    def warmup(self) -> int:
        """Epochs before the pseudo-labels supervise the detector (0 for hand-crafted distances)."""
        return int(self.options["warmup"]) if self.learned else 0

    def config(self) -> BranchConfig:
        o = self.options
        return branch_mod.BranchConfig(
            dim=int(o["dim"]), background_queries=int(o["background"]), rounds=int(o["rounds"]),
            aggregation=bool(o["aggregation"]), enhancement=bool(o["enhancement"]),
            support=int(o["support"]), tau=float(o["tau"]),
        )

    # parts and labels ------------------------------------------------------------------
    def build_parts(self, ctx: MethodContext) -> dict[str, Part]:
        if ctx.feature_channels is None and self.options["distance"] != "euclidean":
            raise ConfigError(f"learnable_distance distance={self.options['distance']}: detector {ctx.detector!r} "
                              "returns no decoder features; use distance=euclidean or another detector")
        if not self.learned:
            return {}
        self.branch = branch_mod.DistanceBranch(int(ctx.feature_channels), self.config())  # type: ignore[arg-type]
        parts = {"distance_branch": contract.Part(self.branch, optimizer="adam", lr=float(self.options["branch_lr"]))}
        if self.options["stage2_features"] == "warmup":  # filled at the warm-up's end; checkpointed as a part
            self.snapshot = copy.deepcopy(ctx.model).requires_grad_(False).eval()
            parts["warmup_detector"] = contract.Part(self.snapshot, trainable=False)
        if self.options["restart"]:  # build_parts runs before any step and before a checkpoint loads: the seeded init
            self.initial_state = {k: v.detach().clone() for k, v in ctx.model.state_dict().items()}  # type: ignore[union-attr]
        return parts

    def setup(self, ctx: MethodContext) -> None:
        if self.warmup >= ctx.profile.epochs:
            raise ConfigError(f"learnable_distance warmup={self.warmup} leaves none of the profile's "
                              f"{ctx.profile.epochs} epochs to train the detector; lower warmup")
        super().setup(ctx)  # the point maps: what the record scores before the first labels
        if not self.learned:
            self.relabel(ctx)

    def relabel(self, ctx: MethodContext) -> None:
        """Every training label from the current features by the assignment rule."""
        every = list(range(len(ctx.labels)))
        for start in range(0, len(every), LABEL_CHUNK):
            chunk = every[start : start + LABEL_CHUNK]
            made = self._features(ctx, chunk) if self.options["distance"] != "euclidean" else [None] * len(chunk)
            for i, pair in zip(chunk, made):
                features = None if pair is None else pair[1]
                ctx.labels[i] = self.label_image(features, ctx.points(i), ctx.labels[i].shape, ctx.device)

    def _features(self, ctx: MethodContext, chunk: list[int]) -> list[Any]:
        frozen = self.frozen(ctx.epoch)
        return ctx.predict_features(chunk) if frozen is None else ctx.predict_features(chunk, model=frozen)

    def label_image(self, features: np.ndarray | None, points: np.ndarray, shape: tuple[int, int], device: Any) -> np.ndarray:
        """One image's pseudo-label from its decoder features (F, h, w) and its points."""
        q = rules.queries_from_point_maps(torch.from_numpy(point_map(points, shape))[None].to(device))
        f = torch.zeros(1, 1, *shape, device=device) if features is None else full_size(torch.from_numpy(features)[None].to(device), shape)
        if self.branch is not None:
            was = self.branch.training
            self.branch.eval()
        try:
            with torch.no_grad():
                got = branch_mod.pseudo_labels(self.options["distance"], f, q, self.config(), float(self.options["bg_radius"]), self.branch)
        finally:
            if self.branch is not None:
                self.branch.train(was)
        return got.labels[0].cpu().numpy().astype(np.float32)

    # training --------------------------------------------------------------------------
    def loss(self, out: DetectorOutput, batch: dict[str, Any], ctx: MethodContext) -> LossValue:
        """Stage 1: the distance loss alone; stage 2: the detector's loss on the labels
        plus the distance loss (hand-crafted distances: the detector's loss only)."""
        parts: dict[str, Any] = {}
        total = None
        if ctx.epoch >= self.warmup:
            detector = super().loss(out, batch, ctx)
            total, parts["detector"] = detector, detector.detach()
        if self.branch is not None:
            distance = self.distance_loss(self.branch_features(out, batch, ctx.epoch), batch["points"])
            parts.update({name: value.detach() for name, value in distance.items()})
            total = distance["distance"] if total is None else total + distance["distance"]
        return total, parts

    def frozen(self, epoch: int) -> Any:
        """The warm-up's frozen detector once stage 2 has begun (else None: the detector itself)."""
        return self.snapshot if self.snapshot is not None and epoch + 1 >= self.warmup else None

    def branch_features(self, out: DetectorOutput, batch: dict[str, Any], epoch: int) -> Any:
        """What the branch reads: in stage 1 the detector's features with gradient (end to end);
        in stage 2 those (``live``), the same without gradient (``detached``), or the features of
        the detector frozen at the warm-up's end (``warmup``), which the pseudo-label loss never shapes."""
        mode = self.options["stage2_features"] if epoch >= self.warmup else "live"
        if mode == "detached":
            return None if out.features is None else out.features.detach()
        if mode == "warmup":
            with torch.no_grad():
                self.snapshot.eval()
                return self.snapshot(batch["image"]).features
        return out.features

    def distance_loss(self, features: Any, points: Any) -> dict[str, Any]:
        """The branch's point supervision on one batch (features: the detector's, with gradient)."""
        assert self.branch is not None
        if features is None:
            raise ValueError("learnable_distance: the detector returned no decoder features")
        q = rules.queries_from_point_maps(points)
        out = self.branch(full_size(features.float(), q.shape), q)
        o = self.options
        return branch_mod.branch_loss(out, q, int(o["support"]), float(o["bg_radius"]), float(o["margin"]))

    def refresh_due(self, epoch: int, epochs: int) -> bool:
        """After the warm-up's last epoch and every ``refresh`` epochs after it, never after
        the last epoch (no detector step would use those labels)."""
        done = epoch + 1
        if done >= epochs or done < max(self.warmup, 1):
            return False
        return (done - self.warmup) % int(self.options["refresh"]) == 0

    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        stage = 1 if epoch < self.warmup else 2  # of the epoch just trained
        if self.snapshot is not None and epoch + 1 == self.warmup:  # the warm-up's features, kept for stage 2
            self.snapshot.load_state_dict(ctx.model.state_dict())  # type: ignore[union-attr]
            restart_detector(ctx, self.initial_state)
        if self.options["distance"] == "euclidean" or not self.refresh_due(epoch, ctx.profile.epochs):
            return {"stage": stage}  # euclidean labels never change: made once, at setup
        self.relabel(ctx)
        area = sum(float((l > 0.5).sum()) for l in ctx.labels) / max(sum(len(ctx.points(i)) for i in range(len(ctx.labels))), 1)
        return {"labels_changed": True, "stage": stage, "relabelled": True, "label_area": area}  # px per point: growth shows here

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        if self.learned:  # the branch part holds them; the record counts the part as a whole
            info["background_query_parameters"] = int(self.options["background"]) * int(self.options["dim"])
        return info


def restart_detector(ctx: MethodContext, initial_state: dict[str, Any] | None) -> None:
    """Stage 2 trains the detector from its initial weights, as a second network would be."""
    if initial_state is None:
        return
    ctx.model.load_state_dict(initial_state)  # type: ignore[union-attr]
    if ctx.optimizer is not None:
        ctx.optimizer.state.clear()  # Adam's moments of the warm-up's weights mean nothing now


def full_size(features: Any, shape: Sequence[int]) -> Any:
    """Decoder features (B, F, h, w) at the points' size (H, W): a strided map (h = ceil(H /
    stride)) is repeated stride times (nearest) and cropped."""
    h, w = int(shape[0]), int(shape[1])
    if features.shape[-2:] == (h, w):
        return features
    stride = -(-h // features.shape[-2])
    return F.interpolate(features, scale_factor=stride, mode="nearest")[..., :h, :w]

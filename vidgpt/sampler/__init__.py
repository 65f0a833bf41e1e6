"""Sampling engine: schedules, plans, a static-KV-cache forward, sampling, and the one sampling loop."""

from .forward import KVCache, StaticForward
from .loop import sample_codes, sample_steps
from .plan import MaskTracker, Step, TrainingView, build_plan, standin, training_mask, training_view
from .sampling import filter_logits, guide, sample
from .schedules import diagonal_schedule, make_schedule, raster_schedule, step_of
from .threads import ThreadChooser

__all__ = [
    "KVCache", "StaticForward", "sample_codes", "sample_steps", "MaskTracker", "Step", "build_plan", "standin",
    "training_mask", "training_view", "TrainingView", "filter_logits", "guide", "sample", "diagonal_schedule",
    "make_schedule", "raster_schedule",
    "step_of", "ThreadChooser",
]

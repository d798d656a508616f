"""Tracks: one module per kind of work; the runner knows them through ``tracks/base.py``."""

from entropy_bench.tracks.classification import ClassificationTrack
from entropy_bench.tracks.estimation import EstimationTrack
from entropy_bench.tracks.generation import GenerationTrack

TRACKS = {track.name: track for track in (GenerationTrack(), EstimationTrack(), ClassificationTrack())}

"""The symptoms a person declares: the form's words, which reports count in the same order."""

from __future__ import annotations

from typing import Literal, get_args

Symptom = Literal[
    "fever",
    "cough",
    "shortness_of_breath",
    "sore_throat",
    "fatigue",
    "loss_of_taste_or_smell",
    "pneumonia",
]
SYMPTOMS: tuple[str, ...] = get_args(Symptom)

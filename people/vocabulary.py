"""The symptoms a person declares: the form's words, which reports count in the same order,
and the four more signs the entry form and monitoring reports ask about."""

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
# The entry form (tokhaiyte.vn's list) and daily monitoring reports add four signs.
EntrySymptom = Literal[
    "fever",
    "cough",
    "shortness_of_breath",
    "sore_throat",
    "fatigue",
    "loss_of_taste_or_smell",
    "pneumonia",
    "vomiting",
    "diarrhoea",
    "skin_haemorrhage",
    "rash",
]
ENTRY_SYMPTOMS: tuple[str, ...] = get_args(EntrySymptom)

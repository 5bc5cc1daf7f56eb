"""Deepgram's transcript results, as both its pre-recorded answer (``results.channels[]``) and its live
``Results`` message (``channel``) carry them: one schema for the two wires that read it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Lenient(BaseModel):
    """Deepgram adds fields over time: read what is known, ignore the rest."""

    model_config = ConfigDict(extra="ignore")


class Timed(Lenient):
    start: float
    end: float


class DeepgramWord(Timed):
    word: str
    confidence: float = 0.0
    punctuated_word: str | None = None  # with smart_format or punctuate


class Sentence(Timed):
    text: str


class Paragraph(Lenient):
    sentences: list[Sentence] = Field(default_factory=list)


class Paragraphs(Lenient):
    paragraphs: list[Paragraph] = Field(default_factory=list)


class Alternative(Lenient):
    transcript: str = ""
    confidence: float = 0.0
    words: list[DeepgramWord] = Field(default_factory=list)
    paragraphs: Paragraphs | None = None  # pre-recorded answers with smart_format or paragraphs


class Channel(Lenient):
    alternatives: list[Alternative] = Field(default_factory=list)
    detected_language: str | None = None

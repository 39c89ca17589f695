"""Heuristic music-theory analysis, one module per concern, one report type.

    from genre_model.theory import analyze
    report = analyze("song.mp3")
    print(report.to_markdown())
"""
from .report import TheoryReport, analyze, analyze_signal

__all__ = ["TheoryReport", "analyze", "analyze_signal"]

"""What a grading run reports: ``Report``, ``exercises.csv`` and the summary table.

The gradebook scores test cells; ``exercise_of`` gives each test cell the exercise (the
solution cell) it checks, so the CSV and the table have one column per exercise.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from instructor.grading.jobs import StudentResult, TopicResult


def exercise_of(solutions: Path, topic: str) -> dict[str, str]:
    """``{test grade_id: exercise}``: each test cell belongs to the solution cell before it."""
    nb = json.loads(next((solutions / topic).glob("*.ipynb")).read_text(encoding="utf-8"))
    owner, current = {}, None
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            current = meta["grade_id"]
        elif meta.get("grade"):
            owner[meta["grade_id"]] = current or meta["grade_id"]
    return owner


@dataclass
class Report:
    """What ``grade`` returns: every student's result, and what the reports are made from."""

    results: dict[str, StudentResult]
    exercises: dict[str, dict[str, str]]            # topic → test grade_id → exercise
    warnings: list[str]
    seconds: float
    #: student → topic → what ``instructor.grading.tampering`` found in the submitted notebook (for a look)
    flags: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def exercise_scores(self, student: str, topic: str) -> dict[str, tuple[float, float]]:
        out: dict[str, list[float]] = {}
        for tr in self.results[student].topics:
            if tr.topic == topic:
                for grade_id, (score, maximum) in tr.grades.items():
                    ex = self.exercises[topic].get(grade_id, grade_id)
                    acc = out.setdefault(ex, [0.0, 0.0])
                    acc[0] += score
                    acc[1] += maximum
        return {k: (v[0], v[1]) for k, v in out.items()}

    def topic_result(self, student: str, topic: str) -> TopicResult | None:
        return next((t for t in self.results[student].topics if t.topic == topic), None)



def write_exercise_csv(report: Report, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "topic", "exercise", "score", "max_score", "problems"])
        for student in sorted(report.results):
            for tr in report.results[student].topics:
                problems = "; ".join(([tr.failure] if tr.failure else []) + tr.errors[:3])
                for ex, (score, maximum) in report.exercise_scores(student, tr.topic).items():
                    writer.writerow([student, tr.topic, ex, f"{score:g}", f"{maximum:g}", problems])


def summary(report: Report) -> str:
    """Per topic, a table of students × exercises (score/max), then each student's total."""
    buf = io.StringIO()
    topics = sorted({t.topic for r in report.results.values() for t in r.topics})
    for topic in topics:
        students = [s for s in sorted(report.results) if report.topic_result(s, topic)]
        exercises = list(dict.fromkeys(report.exercises[topic].values()))
        rows = [["student", *exercises, "total", "problems"]]
        for s in students:
            scores = report.exercise_scores(s, topic)
            tr = report.topic_result(s, topic)
            total = sum(v[0] for v in scores.values()), sum(v[1] for v in scores.values())
            problem = tr.failure or (tr.errors[0] if tr.errors else "")
            rows.append([s, *(f"{scores[e][0]:g}/{scores[e][1]:g}" if e in scores else "-" for e in exercises),
                         f"{total[0]:g}/{total[1]:g}", problem[:70]])
        buf.write(f"\n{topic}\n{_table(rows)}\n")
    rows = [["student", "total", "max", "seconds"]]
    for s in sorted(report.results):
        r = report.results[s]
        score = sum(v[0] for t in r.topics for v in t.grades.values())
        maximum = sum(v[1] for t in r.topics for v in t.grades.values())
        rows.append([s, f"{score:g}", f"{maximum:g}", f"{r.seconds:.0f}"])
    buf.write(f"\nall topics\n{_table(rows)}\n")
    waiting = {s: sum(v for t in r.topics for v in t.manual.values()) for s, r in report.results.items()}
    if any(waiting.values()):
        cells = sum(len(t.manual) for r in report.results.values() for t in r.topics)
        buf.write(f"\nneeds manual grading: {cells} written answers ({sum(waiting.values()):g} points, not in the "
                  "totals above). Grade them in nbgrader's formgrader: run `jupyter lab` in this folder (the kit's "
                  "`make lab` installs it), then Nbgrader → Formgrader; `nbgrader export` there then adds them "
                  "to grades.csv.\n")
    if report.flags:
        buf.write("\nflagged for review (code that reaches into what the tests use; marks are unaffected)\n")
        for student, per_topic in sorted(report.flags.items()):
            for topic, flagged in sorted(per_topic.items()):
                buf.write("".join(f"  {student}/{topic}: {f}\n" for f in flagged))
    return buf.getvalue()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

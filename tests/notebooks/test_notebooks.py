"""Every solution notebook through nbgrader, the way an instructor's course runs it.

For each topic: the committed student release matches what nbgrader generates from the
solutions; the solution notebook, submitted as a student's, autogrades to full marks and
executes without an error in any cell (grading mode: CPU, smoke profile, random weights,
offline); the untouched student release autogrades to zero on every graded cell without
crashing.
"""
import json
import time

import pytest

from instructor.coursedir import RELEASE, SOLUTIONS, Course, topics
from instructor.release import differences

TOPICS = topics()
pytestmark = pytest.mark.skipif(not TOPICS, reason="no solution notebooks yet")


def _notebook_name(topic):
    return next((SOLUTIONS / topic).glob("*.ipynb")).name


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("course"))
    timings = {}
    for topic in TOPICS:
        course.add_source(topic)
        release = course.generate(topic)
        name = _notebook_name(topic)
        course.submit(topic, "perfect", {name: SOLUTIONS / topic / name})
        course.submit(topic, "untouched", {name: release / name})
        for student in ("perfect", "untouched"):
            start = time.perf_counter()
            course.autograde(topic, student)
            timings[(topic, student)] = time.perf_counter() - start
    course.timings = timings
    for (topic, student), seconds in timings.items():
        print(f"autograde {topic} / {student}: {seconds:.1f} s")
    return course


@pytest.mark.parametrize("topic", TOPICS)
def test_committed_release_is_what_nbgrader_generates(topic, tmp_path):
    fresh = Course(tmp_path)
    fresh.add_source(topic)
    problems = differences(fresh.generate(topic), RELEASE / topic)
    assert not problems, "\n".join(problems) + "\nRun `python -m instructor release` and commit notebooks/."


@pytest.mark.parametrize("topic", TOPICS)
def test_solution_gets_full_marks_and_runs_without_errors(course, topic):
    scores = course.scores(topic, "perfect")
    assert scores, f"{topic} has no graded cells"
    lost = {k: v for k, v in scores.items() if v[0] != v[1]}
    assert not lost, f"solution lost points in {lost}"
    executed = json.loads(course.autograded_notebook(topic, "perfect", _notebook_name(topic)).read_text())
    errors = [(i, o.get("ename"), o.get("evalue", "")[:300])
              for i, cell in enumerate(executed["cells"]) if cell["cell_type"] == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"cells raised while grading the solution: {errors}"


@pytest.mark.parametrize("topic", TOPICS)
def test_untouched_release_gets_zero_without_crashing(course, topic):
    scores = course.scores(topic, "untouched")
    assert scores and all(score == 0 for score, _ in scores.values()), scores
    executed = json.loads(course.autograded_notebook(topic, "untouched", _notebook_name(topic)).read_text())
    names = {o.get("ename") for cell in executed["cells"] if cell["cell_type"] == "code"
             for o in cell.get("outputs", []) if o.get("output_type") == "error"}
    assert "NotImplementedError" in names  # the stubs were reached, so the notebook ran


@pytest.mark.parametrize("topic", TOPICS)
def test_release_contains_no_answers_or_hidden_tests(topic):
    text = next((RELEASE / topic).glob("*.ipynb")).read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    source = json.loads(next((SOLUTIONS / topic).glob("*.ipynb")).read_text())
    for cell in source["cells"]:
        body = "".join(cell["source"])
        if "### BEGIN SOLUTION" in body:
            answer = body.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()
            for line in answer.splitlines():
                if len(line.strip()) > 25:
                    assert line.strip() not in text, f"answer line leaked into the release: {line.strip()}"


@pytest.mark.parametrize("topic", TOPICS)
def test_written_questions_have_reference_answers_and_blank_release_cells(topic):
    def written(folder):
        nb = json.loads(next((folder / topic).glob("*.ipynb")).read_text())
        cells = nb["cells"]
        out = {}
        for i, cell in enumerate(cells):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "markdown" and meta.get("solution") and meta.get("grade"):
                question = cells[i - 1]
                assert question.get("metadata", {}).get("nbgrader", {}).get("locked"), "a locked question precedes"
                assert "".join(question["source"]).startswith("**Question")
                out[meta["grade_id"]] = ("".join(cell["source"]), meta["points"])
        return out

    solution, release = written(SOLUTIONS), written(RELEASE)
    assert 2 <= len(solution) <= 3 and solution.keys() == release.keys()
    for grade_id, (answer, points) in solution.items():
        assert points == 2 and len(answer.split()) >= 40, f"{grade_id}: a reference answer of a few sentences"
        assert release[grade_id] == ("YOUR ANSWER HERE", 2)


"""``python -m instructor grade`` end to end through nbgrader, offline, on the CPU.

One grading run (module fixture, 2 workers) over generated submissions of notebooks 01
and 07 (``instructor.submissions``): perfect, untouched, one mistake per graded function
(each mistake student hands in only the topic with the mistake), and the hostile cases on
notebook 01. Then a few students again serially and on a local Dask cluster, compared
with the parallel run. The full run (every topic, every mistake, 20 students) is
``python -m instructor.selfcheck``.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from instructor import grading
from instructor import submissions as gen
from instructor.coursedir import RELEASE, Course, resolve_topics
from instructor.grading.collect import CollectError, collect

TOPICS = resolve_topics(["01", "07"])
T01, T07 = TOPICS
TIMEOUT = grading.DEFAULT_TIMEOUT   # the looping cell costs this once; shorter risks false timeouts under load
# Every mistake of notebook 01, and TV without the square of notebook 07 (07 is slower to
# grade; its other mistakes run in the self-check).
MISTAKES = [*gen.mistakes_for(T01), next(m for m in gen.mistakes_for(T07) if m.function == "tv_loss")]


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    root = tmp_path_factory.mktemp("submissions")
    expected = gen.generate(root, TOPICS)
    keep = {f"mistake-{m.function.replace('_', '-')}" for m in MISTAKES}
    for student, per_topic in expected.items():       # a mistake student hands in only its topic
        if student.startswith("mistake-"):
            for topic, loses in per_topic.items():
                if not loses or student not in keep:
                    shutil.rmtree(root / student / topic)
            if student not in keep:
                shutil.rmtree(root / student)
    expected = {s: {t: l for t, l in per.items() if (root / s / t).exists()} for s, per in expected.items()
                if (root / s).exists()}
    return root, expected


@pytest.fixture(scope="module")
def graded(subs, tmp_path_factory):
    root, expected = subs
    out = tmp_path_factory.mktemp("graded")
    report = grading.grade(root, out, TOPICS, workers=2, timeout=TIMEOUT, log=lambda *_: None)
    return report, out, expected


def _lost(report, student, topic):
    return {ex for ex, (score, maximum) in report.exercise_scores(student, topic).items() if score < maximum}


def _notebook(out, student, topic):
    return json.loads(next((out / "autograded" / student / topic).glob("*.ipynb")).read_text())


def test_every_student_gets_exactly_the_expected_marks(graded):
    report, _, expected = graded
    assert set(report.results) == set(expected)
    wrong = {}
    for student, per_topic in expected.items():
        for topic, loses in per_topic.items():
            if _lost(report, student, topic) != set(loses):
                wrong[(student, topic)] = (sorted(_lost(report, student, topic)), loses)
    assert not wrong, f"(student, topic): (exercises that lost points, expected): {wrong}"


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.function)
def test_a_mistake_costs_points_only_in_the_tests_of_its_function(graded, mistake):
    report, _, _ = graded
    topic = next(t for t in TOPICS if mistake in gen.mistakes_for(t))
    student = f"mistake-{mistake.function.replace('_', '-')}"
    owners = grading.exercise_of(gen.SOLUTIONS, topic)
    grades = report.topic_result(student, topic).grades
    lost = {gid for gid, (score, maximum) in grades.items() if score < maximum}
    assert lost, f"{mistake.name} lost no points"
    assert {owners[gid] for gid in lost} <= {mistake.function, *mistake.also_breaks}, lost
    assert all(grades[gid][0] == grades[gid][1] for gid in grades if gid not in lost)


def test_perfect_full_marks_untouched_zero_with_readable_feedback(graded):
    report, out, _ = graded
    for topic in TOPICS:
        assert all(s == m > 0 for s, m in report.topic_result("perfect", topic).grades.values())
        untouched = report.topic_result("untouched", topic)
        assert untouched.failure is None and all(s == 0 for s, _ in untouched.grades.values())
        page = next((out / "feedback" / "untouched" / topic).glob("*.html")).read_text()
        assert "NotImplementedError" in page and "Score: 0" in page.replace("Score: 0.0", "Score: 0")


def test_feedback_shows_hidden_test_results_but_not_their_code(graded, subs):
    _, out, _ = graded
    page = next((out / "feedback" / "mistake-conv-output-size" / T01).glob("*.html")).read_text()
    assert "torch gives" in page                      # the hidden assertion's message
    assert "BEGIN HIDDEN TESTS" not in page and "itertools.product" not in page   # its code


@pytest.mark.parametrize("kind", [k for k, v in gen.CHEATS.items() if v[0] == "01"])
def test_cheating_loses_the_wrong_answers_points_and_is_flagged(graded, kind):
    report, out, _ = graded
    student = f"cheat-{kind.replace('_', '-')}"
    function = gen.CHEATS[kind][1]
    assert _lost(report, student, T01) == {function}
    flagged = report.flags[student][T01]
    assert flagged and all(f.startswith(f"cell {function}, line ") for f in flagged)
    assert f"{student}/{T01}: cell {function}" in (out / "summary.txt").read_text()


def test_only_the_cheating_students_are_flagged(graded):
    report, _, _ = graded
    assert sorted(report.flags) == sorted(f"cheat-{k.replace('_', '-')}" for k, v in gen.CHEATS.items()
                                          if v[0] in ("01", "07"))


def test_written_answers_are_left_for_manual_grading(graded):
    report, out, _ = graded
    perfect = report.results["perfect"]
    for tr in perfect.topics:
        assert sorted(tr.manual) == sorted(g for g in tr.manual if g.startswith("written_")) and len(tr.manual) >= 2
        assert not any(g.startswith("written_") for g in tr.grades), "not counted in the automatic marks"
    summary = (out / "summary.txt").read_text()
    assert "needs manual grading" in summary and "Formgrader" in summary
    assert (out / "nbgrader_config.py").is_file(), "the formgrader can open the graded course"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        submission = gb.find_submission(T07, "perfect")
        pending = {g.name for nb in submission.notebooks for g in nb.grades if g.needs_manual_grade}
    assert pending == set(perfect.topics[[t.topic for t in perfect.topics].index(T07)].manual)


def test_infinite_loop_times_out_and_grading_goes_on(graded):
    report, _, _ = graded
    result = report.topic_result("hostile-infinite-loop", T01)
    assert result.failure is None
    assert any("(conv_output_size)" in e for e in result.errors), result.errors
    assert _lost(report, "hostile-infinite-loop", T01) == {"conv_output_size"}


def test_megabytes_of_output_are_cut(graded):
    _, out, _ = graded
    size = lambda student: len(json.dumps(_notebook(out, student, T01)))  # noqa: E731
    assert size("hostile-huge-output") < size("perfect") + 100_000
    text = json.dumps(_notebook(out, "hostile-huge-output", T01))
    assert "cut by the grader" in text


def test_edited_and_deleted_test_cells_are_restored(graded):
    _, out, _ = graded
    source = json.loads(next((gen.SOLUTIONS / T01).glob("*.ipynb")).read_text())
    graded_nb = _notebook(out, "hostile-tampered-tests", T01)
    by_id = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in graded_nb["cells"]}
    for cell in source["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            assert gid in by_id, f"test cell {gid} was not put back"
            assert "".join(cell["source"]).strip() in by_id[gid], f"test cell {gid} was not restored"


def test_os_exit_scores_zero_and_the_feedback_says_why(graded):
    report, out, _ = graded
    result = report.topic_result("hostile-os-exit", T01)
    assert result.failure and "kernel died" in result.failure
    page = next((out / "feedback" / "hostile-os-exit" / T01).glob("*.html")).read_text()
    assert "kernel died" in page and "Score: 0" in page


def test_setup_error_is_named_in_feedback_and_summary(graded):
    report, out, _ = graded
    page = next((out / "feedback" / "hostile-setup-error" / T01).glob("*.html")).read_text()
    assert "my set-up is broken" in page
    where = f"cell {gen.setup_cell_index(gen.untouched(T01))} (not graded): RuntimeError"
    first = report.topic_result("hostile-setup-error", T01).errors[0]
    assert first.startswith(where), first
    assert where in (out / "summary.txt").read_text()


def _snoop_output(nb):
    text = next(o["text"] for c in nb["cells"] for o in c.get("outputs", []) if "SNOOP" in str(o.get("text", "")))
    return "".join(text) if isinstance(text, list) else text


def test_hidden_tests_are_not_on_disk_where_the_kernel_runs(graded, tmp_path):
    _, out, _ = graded
    text = _snoop_output(_notebook(out, "hostile-snoop", T01))
    assert text.rstrip().endswith("found []"), text
    assert " 0 files" not in text, text
    # The same search from a kernel's folder in a plain nbgrader course (gradebook in the
    # course root) finds them: the check above can fail.
    plain = Course(tmp_path)
    plain.add_source(T01)
    plain.generate(T01)
    cwd = tmp_path / "autograded" / "snoop" / T01
    cwd.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", gen.SNOOP], cwd=cwd, capture_output=True, text=True, check=True)
    assert "gradebook.db" in done.stdout, done.stdout


def test_csv_gradebook_and_summary_agree(graded):
    report, out, expected = graded
    with (out / "grades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_key = {(r["student_id"], r["assignment"]): float(r["score"]) for r in rows}
    for student, per_topic in expected.items():
        for topic in per_topic:
            total = sum(s for s, _ in report.topic_result(student, topic).grades.values())
            assert by_key[(student, topic)] == pytest.approx(total), (student, topic)
    with (out / "exercises.csv").open() as fh:
        ex_rows = list(csv.DictReader(fh))
    assert ({(r["student"], r["exercise"]) for r in ex_rows if r["topic"] == T07}
            >= {("perfect", "content_loss"), ("perfect", "tv_loss")})
    assert {r["problems"] for r in ex_rows if r["student"] == "hostile-setup-error"} != {""}
    summary = (out / "summary.txt").read_text()
    assert all(student in summary for student in expected) and "tv_loss" in summary
    for student, per_topic in expected.items():
        for topic in per_topic:
            assert list((out / "feedback" / student / topic).glob("*.html")), (student, topic)


def _scores(report):
    return {(s, t.topic): t.grades for s, r in report.results.items() for t in r.topics}


def _subset(root, dest, students):
    for s in students:
        shutil.copytree(root / s, dest / s)
    return dest


def test_serial_grading_gives_the_parallel_results(graded, subs, tmp_path):
    report, _, _ = graded
    root, _ = subs
    picked = ["hostile-setup-error", "hostile-os-exit"]      # quick to grade
    serial = grading.grade(_subset(root, tmp_path / "in", picked), tmp_path / "out", [T01], workers=1,
                           timeout=TIMEOUT, log=lambda *_: None)
    parallel = _scores(report)
    assert _scores(serial) == {k: parallel[k] for k in _scores(serial)}


def test_dask_local_cluster_gives_the_same_results(graded, subs, tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed: pip install -e '.[dask]'")
    report, _, _ = graded
    root, _ = subs
    picked = ["hostile-setup-error", "mistake-nearest-neighbours"]
    dasked = grading.grade(_subset(root, tmp_path / "in", picked), tmp_path / "out", [T01], workers=2,
                           timeout=TIMEOUT, dask="local", log=lambda *_: None)
    assert set(dasked.results) == set(picked)
    parallel = _scores(report)
    assert all(parallel[k] == v for k, v in _scores(dasked).items() if k[1] == T01)


def test_lms_zip_is_collected_with_the_newest_attempt(subs, tmp_path):
    root, _ = subs
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(root / "perfect" / T01 / "cnn_recap.ipynb", "hw_ada_attempt_2024-05-02-10-00-00_cnn_recap.ipynb")
        zf.write(root / "untouched" / T01 / "cnn_recap.ipynb", "hw_ada_attempt_2024-05-01-09-00-00_cnn_recap.ipynb")
        zf.write(root / "untouched" / T07 / "style_transfer.ipynb",
                 "hw_bob_attempt_2024-05-01-09-00-00_style_transfer.ipynb")
        zf.writestr("hw_bob_attempt_2024-05-01-09-00-00_notes.ipynb", "{}")
    found, warnings = collect(archive, TOPICS, RELEASE, tmp_path / "work")
    assert set(found) == {"ada", "bob"} and set(found["ada"]) == {T01} and set(found["bob"]) == {T07}
    newest = found["ada"][T01].files["cnn_recap.ipynb"].read_text()
    assert newest == (root / "perfect" / T01 / "cnn_recap.ipynb").read_text()
    assert found["ada"][T01].timestamp.startswith("2024-05-02")
    assert any("notes.ipynb" in w for w in warnings) and any("newer" in w for w in warnings)


def test_submitted_layout_and_bad_input(subs, tmp_path, capsys):
    root, expected = subs
    found, _ = collect(root, TOPICS, RELEASE, tmp_path)
    assert set(found) == set(expected)
    (tmp_path / "broken" / "eve" / T01).mkdir(parents=True)
    (tmp_path / "broken" / "eve" / T01 / "cnn_recap.ipynb").write_text("not json")
    with pytest.raises(CollectError, match="cnn_recap.ipynb is not a notebook"):
        collect(tmp_path / "broken", TOPICS, RELEASE, tmp_path / "w")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CollectError, match="no submissions found"):
        collect(tmp_path / "empty", TOPICS, RELEASE, tmp_path / "w")
    assert grading.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--topics", "01"]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert grading.main([str(root), "--workers", "0"]) == 2


def test_every_graded_function_has_a_generated_mistake():
    assert gen.missing_mistakes() == [], "add a Mistake to instructor/submissions.py for each of these"


def test_workers_share_the_cores_between_their_kernels(monkeypatch, tmp_path):
    import helpers.devices

    monkeypatch.setattr(helpers.devices.os, "cpu_count", lambda: 8)
    assert grading.threads_per_worker(1) is None                  # one worker: torch's default
    assert grading.threads_per_worker(2) == 4 and grading.threads_per_worker(3) == 2
    assert grading.threads_per_worker(16) == 1                    # never below one thread
    assert grading.threads_per_worker(4, dask="tcp://x:8786") == 1
    seen = {}

    def fake_run(cmd, cwd, env, wall_timeout):
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    import instructor.coursedir as coursedir
    monkeypatch.setattr(coursedir, "_run_bounded", fake_run)
    Course(tmp_path, threads=3).nbgrader("--version")
    assert seen["OMP_NUM_THREADS"] == seen["MKL_NUM_THREADS"] == "3"

"""nbgrader configuration of the Style vs Content course kit.

Instructors' source notebooks (answers and hidden tests) live in ``solutions/NN_topic/``;
``nbgrader generate_assignment NN_topic`` writes the student version to
``notebooks/NN_topic/``. Paths are relative to this file, so nbgrader works from any
working directory inside the repository.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "style-vs-content"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Grading runs in the `smoke` profile on the CPU (helpers.devices forces it under
# NBGRADER_EXECUTION); a cell that needs longer than this is a bug in the notebook.
c.ExecutePreprocessor.timeout = 120

c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.enforce_metadata = True

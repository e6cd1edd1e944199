"""nbgrader preprocessors that make autograding harder to abuse.

``instructor.grading.jobs`` lists them in the ``nbgrader_config.py`` of each throw-away grading
course (they only run inside ``nbgrader autograde``):

- ``HideRestoredNotebook`` runs first in the autograde step. nbgrader writes the
  sanitised notebook — test cells restored from the gradebook, *hidden tests included* —
  into the kernel's working folder and then executes it from memory; this deletes that
  file before the student's code runs, so the code cannot read the hidden tests next to
  it. nbgrader writes the graded notebook back afterwards as usual.
- ``LimitOutputSize`` cuts every stream output to ``max_chars`` characters (nbgrader's
  own ``LimitOutput`` counts lines, so one 10 MB line passes it) and drops rich outputs
  beyond ``max_outputs`` per cell.
- ``HiddenTestTracebacks`` runs in ``generate_feedback``: see its docstring.
"""
from __future__ import annotations

import os

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Integer

HIDDEN_MARKER = ClearHiddenTests.class_traits()["begin_test_delimeter"].default()


class HideRestoredNotebook(NbGraderPreprocessor):
    """Delete the on-disk copy of the notebook about to be executed."""

    def preprocess(self, nb, resources):
        folder = resources.get("metadata", {}).get("path")
        name = resources.get("unique_key")
        if folder and name:
            path = os.path.join(folder, name + ".ipynb")
            if os.path.isfile(path):
                os.remove(path)
        return nb, resources


class LimitOutputSize(NbGraderPreprocessor):
    """Truncate long stream outputs and too many outputs per cell."""

    max_chars = Integer(20_000, help="characters kept per stream output").tag(config=True)
    max_outputs = Integer(50, help="outputs kept per cell (the error, if any, is always kept)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and len(output.text) > self.max_chars:
                cut = len(output.text) - self.max_chars
                output.text = output.text[: self.max_chars] + f"\n... {cut} more characters cut by the grader ...\n"
            if len(kept) < self.max_outputs or output.output_type == "error":
                kept.append(output)
        cell.outputs = kept
        return cell, resources


class HiddenTestTracebacks(NbGraderPreprocessor):
    """For feedback: a hidden-test cell's error shows its message, not the code around it.

    IPython tracebacks quote the lines around the failing one, which would print part of
    the hidden tests into the feedback page; the error name and message stay.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_MARKER in cell.source:
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources

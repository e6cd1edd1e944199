"""Instructor-only tooling: generated test submissions and the grading self-check.

Reads ``solutions/`` (answers and hidden tests), so it never goes into the student bundle
(``helpers.bundle`` leaves this folder out and a test checks that).
"""

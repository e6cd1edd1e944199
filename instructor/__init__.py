"""Repository-only course operations: ``python -m instructor {release, bundle, grade, demo, …}``.

release, bundle        student notebooks from solutions/, and the student zip
leakcheck              no given cell of a student notebook computes a graded function (run by release)
answers                the solution notebook's answers as Python functions
grading                autograding through nbgrader, in parallel, hardened (a package: collect, jobs,
                       gradebook, guard, tampering, report, run)
coursedir, course      the throw-away nbgrader course; the repository root (``course.repo_root``)
demo, gallery          the solution notebooks run headless, and their figure gallery
colab                  the Colab set-up cell and the README's links
check_weights          trained behaviour with ImageNet weights (``make check-weights``)
selfcheck, submissions generated submissions and the grading self-check
student_files          the student bundle's pyproject.toml and environment.yml

Reads ``solutions/`` (answers and hidden tests), so it never goes into the student bundle
(``instructor.bundle`` leaves this folder out and a test checks that). Nothing in
``helpers`` imports it.
"""

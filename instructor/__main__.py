"""``python -m instructor …``: the course operations (see ``python -m instructor --help``)."""
from instructor.cli import main

raise SystemExit(main())

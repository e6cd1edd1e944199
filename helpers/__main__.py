"""``python -m helpers …``: the kit's command line (see ``python -m helpers --help``)."""
from helpers.cli import main

raise SystemExit(main())

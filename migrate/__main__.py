"""``python -m migrate``: the same as the ``migrate`` console script."""

from . import main

raise SystemExit(main())

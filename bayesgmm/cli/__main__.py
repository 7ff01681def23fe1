"""``python -m bayesgmm.cli``: the same as the ``bayesgmm`` console script."""

from bayesgmm.cli import main

raise SystemExit(main())

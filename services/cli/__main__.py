"""`python -m services.cli`: the `quotaboard` command (what `up` starts its roles with)."""

from services.bootstrap import main

main()

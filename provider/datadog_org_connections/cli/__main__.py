"""``python -m datadog_org_connections.cli``: same as ``dd-org-connections``."""

from . import main

main()

"""``python -m examples.cli_app``: log in and print your consented profile."""

import sys

from examples.cli_app.app import main

sys.exit(main())

"""``python -m idp.cli``: the ``porta`` command under this interpreter."""

from idp.cli import main

main()

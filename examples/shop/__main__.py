"""``python -m examples.shop``: run the example shop."""

from examples.shop.app import main

main()

import sys

from dla_explorer.cli import main

sys.exit(main())

import sys

from dance.cli import main

sys.exit(main())

import sys

from clreg_core.cli import main

sys.exit(main())

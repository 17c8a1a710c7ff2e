"""``python -m gan3d_studio``."""

import sys

from gan3d_studio.main import main

sys.exit(main())

"""python -m course_tools.hub up|down|values: see course_tools/hub/deploy.py (make hub, make hub-stop)."""

import sys

from course_tools.hub.deploy import main

sys.exit(main())

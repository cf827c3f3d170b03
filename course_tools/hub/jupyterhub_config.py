"""JupyterHub's configuration of the course on one machine: `make hub` starts the hub with it.

Everything comes from course_tools.hub (the deployment's Layout and the state `make hub` wrote,
DGM_HUB_STATE): PAM login for real Linux accounts, LocalProcessSpawner, the groups nbgrader reads
(nbgrader-<course>, formgrade-<course>), the formgrader as a hub service run by the grader account,
and each role's Jupyter configuration (JUPYTER_CONFIG_PATH). See docs/hub.md.
"""

import os
import sys
from pathlib import Path

from jupyterhub.objects import Server
from traitlets.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the course repo: course_tools

from course_tools.hub import State, local_settings  # noqa: E402

c = get_config()  # noqa: F821 (injected by traitlets)

state = State.load(os.environ["DGM_HUB_STATE"])
lay = state.lay
c.merge(Config(local_settings(state)))


def _config_path(spawner) -> str:
    """Each role's servers read their own nbgrader and server settings (students vs the instructor)."""
    return str(lay.etc(lay.role_of(spawner.user.name)))


c.Spawner.environment["JUPYTER_CONFIG_PATH"] = _config_path


# JupyterHub 5 gives a managed service 10 tries of 1 s to answer, then exits; the formgrader
# (a whole JupyterLab) takes about 10 s to start on two busy cores. Each try waits longer instead.
SERVICE_TRY_S = 12
_wait_up = Server.wait_up


async def _patient_wait_up(self, timeout=10, *args, **kwargs):
    return await _wait_up(self, max(timeout, SERVICE_TRY_S), *args, **kwargs)


Server.wait_up = _patient_wait_up

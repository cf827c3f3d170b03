"""A server extension of the formgrader service: its autograde and feedback buttons answer 403.

nbgrader's formgrader autogrades in its own process, with a plain kernel as the grader account
(which owns the gradebook and the solutions), and generates feedback without the staging of
`make feedback`: a second grading path beside the one the course trusts. On the hub, grading is
`make autograde ASSIGNMENT=<id>` and `make feedback ASSIGNMENT=<id>` in a terminal of the service
(the sandboxed kernel and the clean room, docs/ta.md); release, collect, release_feedback and manual
grading stay the formgrader's. Loaded before nbgrader's extensions (jupyter_server loads them in
name order, and tornado routes to the first handler that matches).
"""

from __future__ import annotations

import json

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

REFUSED = {
    r"/formgrader/api/submission/[^/]+/[^/]+/autograde":
        "make autograde ASSIGNMENT=<id> (in a terminal of this server: the sandboxed kernel and the clean room)",
    r"/formgrader/api/assignment/[^/]+/generate_feedback":
        "make feedback ASSIGNMENT=<id> (in a terminal of this server: staged and leak-checked)",
    r"/formgrader/api/assignment/[^/]+/[^/]+/generate_feedback":
        "make feedback ASSIGNMENT=<id> (in a terminal of this server: staged and leak-checked)",
}


class Refuse(JupyterHandler):
    def initialize(self, instead: str) -> None:
        self.instead = instead

    @web.authenticated
    def post(self, *args):
        self.set_status(403)
        self.finish(json.dumps({"success": False, "error": f"Disabled on this hub: run {self.instead}.",
                                "log": f"Disabled on this hub: run {self.instead}."}))

    get = put = post


def _jupyter_server_extension_points():
    return [{"module": "course_tools.hub.guard"}]


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, pattern), Refuse, {"instead": instead})
                                           for pattern, instead in REFUSED.items()])
    serverapp.log.info("course_tools.hub.guard: the formgrader's autograde and generate_feedback are disabled")

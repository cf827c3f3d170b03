"""The course on a JupyterHub: one source for the hub's facts, read by every part of it.

    sudo make hub          # python -m course_tools.hub up: accounts, exchange, hub on 127.0.0.1:8000
    sudo make hub-stop     # python -m course_tools.hub down: ends its processes by pid
    sudo make hub-remove   # ... down --remove: also the accounts, their homes, the shared folder

docs/hub.md says how the pieces fit. This module only *describes* a deployment: `Layout` (names,
paths, groups, roles, the formgrader service), built from the course id that nbgrader_config.py
defines (course_tools.nbgrader_course.course_id) and a few settings. `local_settings` turns it into
JupyterHub's configuration for one machine (course_tools/hub/jupyterhub_config.py loads it), and
`z2jh_values` into the values of the zero-to-jupyterhub chart (course_tools/hub/z2jh-values.yaml),
so both carry the same groups, roles, scopes and nbgrader settings. deploy.py does the work.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# What a deployment's accounts run with the nbgrader extensions they need, and nothing else:
# students get the Assignments tab and Validate; the instructor also the course list (the link to
# the formgrader service); the grader account serves the formgrader (as a hub service) and never a
# student's assignment list. The names are nbgrader 0.9's server extensions and lab plugins.
# (The language-server bridge has no server to talk to and only slows every server's start.)
SERVER_EXTENSIONS = {
    "student": {"nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False,
                "jupyter_lsp": False},
    "instructor": {"nbgrader.server_extensions.formgrader": False, "jupyter_lsp": False},
    "grader": {"nbgrader.server_extensions.assignment_list": False, "nbgrader.server_extensions.course_list": False,
               "jupyter_lsp": False,
               # refuses the formgrader's own autograde and feedback buttons: a second, unsandboxed path
               "course_tools.hub.guard": True},
}
LAB_PLUGINS_OFF = {
    "student": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment"],
    "instructor": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"],
    "grader": ["@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list"],
}
# Environment variables of `make hub` that reach every server (the MNIST folder, fast mode, ...).
PASSED_ENV = ("DGM_DATA_DIR", "DGM_FAST", "DGM_DEVICE", "OMP_NUM_THREADS")
# What a single-user server's own API token may do: report activity, be reached, and read its
# owner's name and groups (nbgrader's JupyterHubAuthPlugin asks for the groups; the instructor's
# course list also lists the services). The hub gives each token only those its owner holds.
SERVER_TOKEN_SCOPES = ["users:activity!user", "access:servers!server", "read:users:name!user",
                       "read:users:groups!user", "list:services", "read:services"]
NAME = re.compile(r"[a-z_][a-z0-9_-]*")  # a name useradd accepts (and JupyterHub keeps as it is)


def course_id(root: Path = REPO) -> str:
    from course_tools.nbgrader_course import course_id as read

    return read(root)


@dataclass(frozen=True)
class Layout:
    """Names and places of one deployment of the course on one machine.

    ``prefix`` starts every account and Linux group name (default ``<course id>-``), so that a
    test or a second course on the machine never touches anyone else's. ``srv`` is what every
    account reads (the Python they run, their Jupyter configuration, the exchange); ``state`` is
    root's alone (the hub's database, secrets, passwords, logs, the proxy).
    """

    course: str
    prefix: str
    students: int = 2
    port: int = 8000
    srv: Path = Path("/srv")
    state: Path = REPO / ".hub"
    home_base: Path = Path("/home")
    ip: str = "127.0.0.1"

    def __post_init__(self) -> None:
        for name in (self.instructor, self.grader, self.students_group, *self.student_names):
            if not NAME.fullmatch(name) or len(name) > 32:
                raise ValueError(f"{name!r} is not a Linux account name (a-z, 0-9, _ and -, at most 32 "
                                 "characters, starting with a letter): choose another HUB_PREFIX")
        if not 1 <= self.students <= 200:
            raise ValueError(f"HUB_STUDENTS={self.students}: between 1 and 200")

    @classmethod
    def default(cls, root: Path = REPO, **settings) -> "Layout":
        course = course_id(root)
        settings = {k: v for k, v in settings.items() if v not in (None, "")}
        settings.setdefault("prefix", f"{course}-")
        settings.setdefault("srv", Path("/srv") / course)
        settings.setdefault("state", root / ".hub")
        return cls(course=course, **{k: Path(v) if k in ("srv", "state", "home_base") else v
                                     for k, v in settings.items()})

    # --- accounts ---------------------------------------------------------------------------

    @property
    def instructor(self) -> str:
        return f"{self.prefix}instructor"

    @property
    def grader(self) -> str:
        """The account that owns the course folder and serves the formgrader."""
        return f"{self.prefix}grader"

    @property
    def student_names(self) -> list[str]:
        return [f"{self.prefix}student{i}" for i in range(1, self.students + 1)]

    @property
    def hub_users(self) -> list[str]:
        return [self.instructor, *self.student_names]

    @property
    def accounts(self) -> list[str]:
        return [self.instructor, self.grader, *self.student_names]

    @property
    def students_group(self) -> str:
        """The Linux group of the enrolled students: the only accounts that may write the inbound."""
        return f"{self.prefix}students"

    def role_of(self, user: str) -> str:
        return "instructor" if user == self.instructor else "grader" if user == self.grader else "student"

    def home(self, user: str) -> Path:
        return self.home_base / user

    # --- the hub's groups, roles and the formgrader service (nbgrader's naming) -------------

    @property
    def service(self) -> str:
        """The formgrader's service name: nbgrader's course list links a course to the service of its id."""
        return self.course

    @property
    def formgrade_group(self) -> str:
        return f"formgrade-{self.course}"

    @property
    def nbgrader_group(self) -> str:
        return f"nbgrader-{self.course}"

    # --- places -----------------------------------------------------------------------------

    @property
    def runtime(self) -> Path:
        """The Python every account runs (a venv of the course venv's interpreter, its packages hard-linked)."""
        return self.srv / "venv"

    @property
    def exchange(self) -> Path:
        return self.srv / "exchange"

    def etc(self, role: str) -> Path:
        """JUPYTER_CONFIG_PATH of a role's servers: its nbgrader and server settings, root's files."""
        return self.srv / "etc" / role

    @property
    def course_dir(self) -> Path:
        """The grader's copy of the course: gradebook, submitted/, autograded/, feedback/ (0700 home)."""
        return self.home(self.grader) / self.course

    @property
    def state_file(self) -> Path:
        return self.state / "state.json"

    @property
    def proxy(self) -> Path:
        return self.state / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def to_json(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> "Layout":
        return cls(**{k: Path(v) if k in ("srv", "state", "home_base") else v for k, v in data.items()})


@dataclass
class State:
    """What `make hub` decided at run time, kept in <state>/state.json (0600, root's)."""

    layout: dict
    created_accounts: list[str] = field(default_factory=list)
    created_groups: list[str] = field(default_factory=list)
    created_srv: bool = False
    passwords: dict[str, str] = field(default_factory=dict)
    hub_api_port: int = 0
    proxy_api_port: int = 0
    service_port: int = 0
    proxy_token: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def lay(self) -> Layout:
        return Layout.from_json(self.layout)

    @classmethod
    def load(cls, path: Path) -> "State":
        return cls(**json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=1, sort_keys=True)
        os.replace(tmp, path)


# --- the course's facts on a hub (one machine and Kubernetes alike) ------------------------------

def roles(lay: Layout) -> list[dict]:
    """JupyterHub roles: who may reach the formgrader service (its formgrade- group, as nbgrader names it).

    The nbgrader- group (the students) needs no role: its members use only their own server, and
    JupyterHubAuthPlugin reads their groups with their server's own token.
    """
    return [{
        "name": lay.formgrade_group,
        "description": "reach the course's formgrader service",
        "groups": [lay.formgrade_group],
        "scopes": [f"access:services!service={lay.service}", "list:services", f"read:services!service={lay.service}"],
    }]


def groups(lay: Layout) -> dict[str, dict]:
    """The hub's groups: nbgrader-<course> (students: whose assignment list shows the course) and
    formgrade-<course> (who reaches the formgrader)."""
    return {lay.formgrade_group: {"users": [lay.instructor]},
            lay.nbgrader_group: {"users": list(lay.student_names)}}


def nbgrader_settings(lay: Layout, role: str, exchange: str | None = None) -> dict:
    """nbgrader's configuration of a role's servers (the course's own nbgrader_config.py is the grader's).

    Students and the instructor run nbgrader's JupyterHubAuthPlugin (the courses they see are their
    hub groups) and submit with course_tools.hub.submit (a submission only its student and the
    grader can read). The grader runs the exchange's collect and release_feedback of course_tools.hub.exchange
    (owner-checked and re-stamped; feedback keyed by the collected secret) and no auth plugin: the
    roster is the hub's nbgrader- group, and `make autograde` also runs outside the hub.
    """
    root = exchange or str(lay.exchange)
    if role == "grader":
        return {"ExchangeFactory": {"collect": "course_tools.hub.exchange.VerifiedCollect",
                                    "release_feedback": "course_tools.hub.exchange.ReleaseFeedback"},
                "VerifiedCollect": {"students_group": lay.students_group}}
    return {"Exchange": {"root": root, "path_includes_course": True},
            "ExchangeFactory": {"submit": "course_tools.hub.submit.PrivateSubmit"},
            "Authenticator": {"plugin_class": "nbgrader.auth.JupyterHubAuthPlugin"}}


def nbgrader_config_text(settings: dict, header: str = "") -> str:
    """A nbgrader_config.py that sets ``settings`` (section -> trait -> value)."""
    lines = [header] if header else []
    lines.append("c = get_config()  # noqa: F821")
    lines += [f"c.{section}.{key} = {value!r}" for section, values in settings.items() for key, value in values.items()]
    return "\n".join(lines) + "\n"


def server_settings(role: str) -> dict:
    return {"ServerApp": {"jpserver_extensions": dict(SERVER_EXTENSIONS[role])}}


def page_config(role: str) -> dict:
    return {"disabledExtensions": {name: True for name in LAB_PLUGINS_OFF[role]}}


def local_settings(state: State) -> dict:
    """JupyterHub's configuration on one machine (LocalProcessSpawner, PAM, the formgrader service)."""
    lay = state.lay
    path = f"{lay.runtime / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    passed = {k: v for k, v in state.env.items() if k in PASSED_ENV}
    service_env = {**passed, "PATH": path, "PYTHONPATH": str(lay.course_dir), "JUPYTERHUB_DEFAULT_URL": "/lab",
                   "JUPYTER_CONFIG_PATH": str(lay.etc("grader")), "LANG": "C.UTF-8"}
    return {
        "JupyterHub": {
            "ip": lay.ip, "port": lay.port, "hub_ip": "127.0.0.1", "hub_port": state.hub_api_port,
            "db_url": f"sqlite:///{lay.state / 'jupyterhub.sqlite'}",
            "cookie_secret_file": str(lay.state / "jupyterhub_cookie_secret"),
            "pid_file": str(lay.state / "jupyterhub.pid"),
            "authenticator_class": "pam",
            "spawner_class": "localprocess",
            "load_groups": groups(lay),
            "load_roles": roles(lay),
            "services": [{
                "name": lay.service, "url": f"http://127.0.0.1:{state.service_port}",
                "command": [str(lay.runtime / "bin" / "jupyterhub-singleuser")],
                "user": lay.grader, "cwd": str(lay.course_dir), "environment": service_env,
                "oauth_no_confirm": True, "display": True,
            }],
            "cleanup_servers": True, "cleanup_proxy": True,
        },
        "ConfigurableHTTPProxy": {
            "command": [str(lay.proxy)], "api_url": f"http://127.0.0.1:{state.proxy_api_port}",
            "auth_token": state.proxy_token, "pid_file": str(lay.state / "jupyterhub-proxy.pid"),
        },
        "Authenticator": {"allowed_users": sorted(lay.hub_users), "admin_users": []},
        # Sessions (pam_systemd, pam_loginuid) fail in containers and add nothing on a hub.
        "PAMAuthenticator": {"open_sessions": False},
        "Spawner": {
            "cmd": [str(lay.runtime / "bin" / "jupyterhub-singleuser")],
            "default_url": "/lab",
            "env_keep": ["LANG", "LC_ALL"],
            "environment": {**passed, "PATH": path, "LANG": "C.UTF-8"},  # + JUPYTER_CONFIG_PATH per role
            "server_token_scopes": SERVER_TOKEN_SCOPES,
            "http_timeout": 120, "start_timeout": 120,
        },
    }

"""nbgrader's exchange on a shared machine, collected as if every student were an attacker.

The grader's nbgrader configuration (course_tools.hub.nbgrader_settings, written by `make hub`)
swaps two of nbgrader 0.9's exchange classes for these; students keep nbgrader's own submit,
fetch and list. What nbgrader's collect trusts and these do not (tests/hub/test_hub_e2e.py runs
each attack against both):

- the name. inbound/<student>+<assignment>+<time>+<random> is whoever made it: `nbgrader submit
  --student alice`, or a plain mkdir, files a submission as alice. nbgrader only logs a warning
  (CollectApp.check_owner) and collects it as hers. Here the folder and every file in it must
  belong to the student it names, who must be in the course's students group; else it is refused.
- the time. The timestamp in the name and in timestamp.txt are the student's to write; nbgrader
  picks the newest by the name and keeps timestamp.txt for late penalties. Here the time is the
  latest change time (ctime) of the folder and its files, which no user can set back; it is
  written into timestamp.txt of the collected copy (the claimed time, if different, is reported).
- the content. nbgrader's copytree follows symbolic links, so a student who links
  inbound/mallory+... to /home/<grader>/<course>/solutions has the grader copy the solutions
  into mallory's submission (and her feedback); one oversized file stops the collect of the whole
  class. Here only regular files are read, opened without following links, with the caps of
  solutions/<id>/collect.json (the same rules as `make collect`); a bad submission is one
  refusal in the report, and every other student is still collected.

ReleaseFeedback: nbgrader's reads the submission secret (the key of a student's feedback in the
exchange) from feedback/<student>/<id>/, where `make feedback` writes only the pages. This one
reads it from the collected submission, and refuses a secret two students share (one of them would
receive the other's feedback).

The report of each collect is exports/exchange/<assignment>-collect.json: collected, refused (why).
"""

from __future__ import annotations

import datetime
import fnmatch
import glob
import grp
import json
import os
import pwd
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.utils import notebook_hash, parse_utc
from traitlets import Unicode

from course_tools.collect import TIMESTAMP_FORMAT, CollectError, load_spec
from course_tools.feedback import TooLarge, UnsafeFile, open_dir, read_regular

NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")  # what nbgrader's submit adds
SECRET_MAX_BYTES = 1024
TIME_SLACK_S = 60  # an honest submission is filed within seconds of the time nbgrader names it by


@dataclass
class Entry:
    """One folder of the inbound, as the collect judged it."""

    name: str
    student: str = ""
    claimed: str = ""  # the time in its name
    filed: str = ""  # the latest ctime of what it holds: when it was last changed
    refused: str = ""  # why it is not collected ("" when it is)
    skipped: list[str] = field(default_factory=list)  # files left out, with why
    timestamp: datetime.datetime | None = None

    @property
    def forged_time(self) -> bool:
        """Does the time in its name differ from when it was filed by more than a copy takes?"""
        try:
            claimed = parse_utc(self.claimed)
        except (ValueError, OverflowError, TypeError):
            return True
        return self.timestamp is not None and abs((self.timestamp - claimed).total_seconds()) > TIME_SLACK_S


class Refused(Exception):
    pass


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class VerifiedCollect(ExchangeCollect):
    """nbgrader's collect, with the owner, the time and the files of each submission checked."""

    students_group = Unicode("", help="Linux group whose members may submit; empty: any owner "
                                      "who matches the name").tag(config=True)

    # --- what is in the inbound ---------------------------------------------------------------

    def _members(self) -> set[str] | None:
        if not self.students_group:
            return None
        try:
            group = grp.getgrnam(self.students_group)
        except KeyError:
            self.fail(f"the students group {self.students_group!r} does not exist (make hub creates it)")
        members = set(group.gr_mem)
        members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == group.gr_gid)
        return members

    def judge(self, name: str, members: set[str] | None) -> Entry:
        """Entry for inbound/``name``: whose it is and when it was filed, or why it is refused."""
        entry = Entry(name)
        parts = name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            entry.refused = "not a submission name (<student>+<assignment>+<time>+<random>)"
            return entry
        entry.student, entry.claimed = parts[0], parts[2]
        try:
            st = os.stat(name, dir_fd=self._inbound_fd, follow_symlinks=False)
        except OSError as err:
            entry.refused = f"unreadable ({err.strerror})"
            return entry
        if not stat.S_ISDIR(st.st_mode):
            entry.refused = "a symbolic link or a file, not a folder" if stat.S_ISLNK(st.st_mode) else "not a folder"
            return entry
        owner = _owner(st.st_uid)
        if owner != entry.student:
            entry.refused = f"named {entry.student} but made by {owner}"
        elif members is not None and owner not in members:
            entry.refused = f"{owner} is not in the students group {self.students_group}"
        return entry

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        try:
            self._inbound_fd = open_dir(self.inbound_path, None)
        except UnsafeFile as err:
            self.fail(f"Course not found or not a real folder: {err}")
        try:
            self.spec = load_spec(Path(self.coursedir.root), self.coursedir.assignment_id)
        except CollectError as err:
            self.fail(str(err))
        members = self._members()
        wanted = self.coursedir.student_id if self.coursedir.student_id not in ("", "*") else None
        pattern = f"*+{glob.escape(self.coursedir.assignment_id)}+*"
        self.entries: list[Entry] = []
        for name in sorted(os.listdir(self._inbound_fd)):
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            entry = self.judge(name, members)
            if wanted is not None and entry.student != wanted:
                continue
            self.entries.append(entry)
        self.duedate = self._duedate()
        newest: dict[str, list[Entry]] = {}
        for entry in self.entries:
            if entry.refused:
                self.log.warning("REFUSED %s: %s", entry.name, entry.refused)
                continue
            try:
                entry.timestamp = self._filed(entry.name)
            except (OSError, Refused) as err:
                entry.refused = f"unreadable ({err})"
                self.log.warning("REFUSED %s: %s", entry.name, entry.refused)
                continue
            entry.filed = entry.timestamp.strftime(TIMESTAMP_FORMAT)
            newest.setdefault(entry.student, []).append(entry)
        self.src_records = []
        for student, mine in newest.items():
            mine.sort(key=lambda e: e.timestamp, reverse=True)
            on_time = [e for e in mine if self.duedate is None or e.timestamp <= self.duedate]
            pick = on_time[0] if (self.before_duedate and on_time) else mine[0]
            self.src_records.append({"username": student, "filename": pick.name, "timestamp": pick.timestamp,
                                     "entry": pick})

    def _duedate(self):
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def _filed(self, name: str) -> datetime.datetime:
        """The latest ctime of the folder and everything in it (no user can set a ctime back)."""
        latest = 0.0
        fd = open_dir(name, self._inbound_fd)
        try:
            latest = os.fstat(fd).st_ctime
            for child in os.listdir(fd):
                latest = max(latest, os.stat(child, dir_fd=fd, follow_symlinks=False).st_ctime)
        finally:
            os.close(fd)
        return datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).replace(tzinfo=None)

    # --- the copy -----------------------------------------------------------------------------

    def _read_entry(self, entry: Entry) -> dict[str, bytes]:
        """The files of a submission that the assignment collects, each a regular file of its owner."""
        owner = pwd.getpwnam(entry.student).pw_uid
        budget = int(self.spec.max_student_mb * 1e6)
        files: dict[str, bytes] = {}
        fd = open_dir(entry.name, self._inbound_fd)
        try:
            if os.fstat(fd).st_uid != owner:
                raise Refused("its folder changed owner")
            for name in self.spec.order(set(os.listdir(fd))):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    entry.skipped.append(f"{name}: {'symbolic link' if stat.S_ISLNK(st.st_mode) else 'not a file'}")
                    continue
                if st.st_uid != owner:
                    entry.skipped.append(f"{name}: belongs to {_owner(st.st_uid)}, not {entry.student}")
                    continue
                if name == "timestamp.txt":
                    continue  # written from the time it was filed
                if name == "submission_secret.txt":
                    cap, words = SECRET_MAX_BYTES, "the submission secret"
                elif self.spec.wants(name):
                    cap, words = self.spec.cap(name)
                else:
                    entry.skipped.append(f"{name}: not a file {self.coursedir.assignment_id} collects")
                    continue
                try:
                    data = read_regular(name, fd, min(cap, budget))
                except TooLarge as err:
                    entry.skipped.append(f"{err} ({words}, or what is left of the student's "
                                         f"{self.spec.max_student_mb:g} MB)")
                    continue
                except (UnsafeFile, OSError) as err:
                    entry.skipped.append(f"{name}: {err}")
                    continue
                budget -= len(data)
                files[name] = data
        finally:
            os.close(fd)
        if not any(n.endswith(".ipynb") for n in files):
            raise Refused("no notebook in it" + (f" ({'; '.join(entry.skipped)})" if entry.skipped else ""))
        return files

    def copy_files(self):
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect",
                             self.coursedir.assignment_id, self.coursedir.course_id)
        collected = []
        for rec in self.src_records:
            entry: Entry = rec["entry"]
            student = entry.student
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student,
                                                   self.coursedir.assignment_id))
            if dest.is_dir():  # as nbgrader decides: newer with --update, another one with --before-duedate
                existing = self.coursedir.get_existing_timestamp(str(dest))
                if not ((self.update and (existing is None or entry.timestamp > existing))
                        or (self.before_duedate and existing != entry.timestamp)):
                    self.log.info("No newer submission to collect (or no --update): %s %s", student,
                                  self.coursedir.assignment_id)
                    continue
            try:
                files = self._read_entry(entry)
            except (OSError, Refused, KeyError) as err:
                entry.refused = str(err)
                self.log.warning("REFUSED %s: %s", entry.name, entry.refused)
                continue
            tmp = dest.with_name(dest.name + ".collecting")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            (tmp / "timestamp.txt").write_text(entry.filed)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
            claimed = f" (it claims {entry.claimed})" if entry.forged_time else ""
            self.log.info("Collecting submission: %s %s, filed %s%s", student, self.coursedir.assignment_id,
                          entry.filed, claimed)
            for why in entry.skipped:
                self.log.warning("SKIPPED in %s: %s", entry.name, why)
            collected.append(entry.name)
        os.close(self._inbound_fd)
        self._write_report(collected)

    def _write_report(self, collected: list[str]) -> None:
        out = Path(self.coursedir.root) / "exports" / "exchange" / f"{self.coursedir.assignment_id}-collect.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        rows = [{k: v for k, v in asdict(e).items() if k != "timestamp"}
                | {"collected": e.name in collected, "forged_time": e.forged_time} for e in self.entries]
        out.write_text(json.dumps({"assignment": self.coursedir.assignment_id, "entries": rows}, indent=1))


class ReleaseFeedback(ExchangeReleaseFeedback):
    """nbgrader's release_feedback, keyed by the secret of the collected submission."""

    def _secret(self, student: str) -> str:
        submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student,
                                               self.coursedir.assignment_id)
        fd = open_dir(submitted, None)
        try:
            return read_regular("submission_secret.txt", fd, SECRET_MAX_BYTES).decode("ascii", "replace")  # as fetch reads it
        finally:
            os.close(fd)

    def copy_files(self):
        exclude = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pages = []
        for page in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            student = Path(page).parent.parent.name
            if student in exclude:
                continue
            try:
                pages.append((student, Path(page), self._secret(student)))
            except (UnsafeFile, OSError) as err:
                self.log.error("No feedback released for %s: no submission secret in submitted/%s/%s (%s); "
                               "was it collected from the exchange?", student, student,
                               self.coursedir.assignment_id, err)
        owners: dict[str, set[str]] = {}
        for student, _, secret in pages:
            owners.setdefault(secret, set()).add(student)
        for student, page, secret in pages:
            if not secret or len(owners[secret]) > 1:
                others = ", ".join(sorted(owners[secret] - {student})) or "nobody"
                self.log.error("No feedback released for %s: its submission secret is empty or also %s's",
                               student, others)
                continue
            checksum = notebook_hash(secret=secret, notebook_id=page.stem)
            tmp = os.path.join(self.dest_path, f"{checksum}-tmp.html")
            shutil.copy(page, tmp)
            os.chmod(tmp, 0o644)
            shutil.move(tmp, os.path.join(self.dest_path, f"{checksum}.html"))
            self.log.info("Releasing feedback for student '%s' on assignment '%s/%s/%s'", student,
                          self.coursedir.course_id, self.coursedir.assignment_id, page.stem)


__all__ = ["VerifiedCollect", "ReleaseFeedback"]

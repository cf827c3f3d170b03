"""nbgrader's submit, with the submission readable by the grader only (students' servers run it).

nbgrader 0.9's submit leaves inbound/<student>+<assignment>+<time>+<random> mode 0777 with its
files 0644 ("hidden from other users by the timestamp"): whoever learns the name reads the
notebook and its submission secret (the key to the student's feedback) and can delete or replace
files in it. Here the folder is made inside the inbound, which is setgid to the grader's group,
so it and everything in it belong to that group; folders are 0750 and files 0640: the student and
the grader, nobody else. Everything else (the checks, the random name, the cache copy in the
student's home) is nbgrader's. Kept free of course_tools' heavy imports: `make hub` copies this
file (and the two package __init__ files) into the accounts' Python.
"""

from __future__ import annotations

import os
import secrets
import shutil

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

FILE_MODE, FOLDER_MODE = 0o640, 0o750


class PrivateSubmit(ExchangeSubmit):
    def copy_files(self):
        self.init_release()
        secret = secrets.token_hex(64)
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        cache = os.path.join(self.cache_path, self.assignment_filename.rsplit("+", 1)[0]
                             if self.add_random_string else self.assignment_filename)
        self.log.info("Source: %s", self.src_path)
        self.log.info("Destination: %s", dest)
        self.check_filename_diff()
        size, cap = self.get_size(self.src_path), 1000 * self.coursedir.max_dir_size
        if size > cap:
            raise RuntimeError(f"Directory size is too big. Size is {size}, maximum size is {cap}")
        # The folder takes the inbound's group (setgid) only as long as nothing chmods it: so it is
        # made first, nbgrader's two files written, then the notebooks copied in without their modes.
        os.mkdir(dest, FOLDER_MODE)
        for name, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
            with open(os.path.join(dest, name), "w") as fh:
                fh.write(text)
        shutil.copytree(self.src_path, dest, dirs_exist_ok=True, copy_function=shutil.copyfile,
                        ignore=ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                               max_file_size=self.coursedir.max_file_size, log=self.log))
        self.set_perms(dest, fileperms=FILE_MODE, dirperms=FOLDER_MODE)
        os.makedirs(self.cache_path, exist_ok=True)
        self.do_copy(self.src_path, cache)
        for name, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
            with open(os.path.join(cache, name), "w") as fh:
                fh.write(text)
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, self.coursedir.assignment_id, self.timestamp)

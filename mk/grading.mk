# TA grading pipeline (docs/ta.md): collect -> autograde -> formgrader -> feedback -> export; bundle.
#
#   make collect   ASSIGNMENT=hw1_foundations ZIP=submissions.zip STUDENTS=students.csv
#   make autograde ASSIGNMENT=hw1_foundations JOBS=2
#   make feedback  ASSIGNMENT=hw1_foundations
#   make export                      # grades.csv (grading_status, grading_reason, needs_ta, lateness) and canvas.csv
#   make overrides ASSIGNMENT=hw1_foundations [STUDENT=s] [CELL=c]        # the formgrader's overrides of test scores
#   make reset-overrides ASSIGNMENT=hw1_foundations [STUDENT=s] [CELL=c]  # clear them: autograded scores count
#   make bundle                      # dist/dgm-lecture1-student.zip
#
# autograde runs each student's kernel in bubblewrap (apt-get install -y bubblewrap); NO_SANDBOX=1
# grades without isolation (trusted code only). WALL= seconds per submission, MEM_MB= memory cap:
# unset, course_tools.autograde's defaults apply (DGM_GRADE_WALL_S, DGM_GRADE_MEM_MB, else its own).

ASSIGNMENT ?=
ZIP ?=
STUDENTS ?=
WALL ?=
MEM_MB ?=
NO_SANDBOX ?=
STUDENT ?=
CELL ?=

.PHONY: collect autograde feedback export overrides reset-overrides bundle sandbox-check

define need_assignment
	@test -n "$(ASSIGNMENT)" || { echo "Set ASSIGNMENT=<id>, one of: $$(ls solutions | tr '\n' ' ')"; exit 2; }
endef

collect: setup ## screen ZIP= (an LMS zip) and collect it into submitted/ with the STUDENTS= roster (ASSIGNMENT=)
	$(need_assignment)
	@test -n "$(ZIP)" || { echo "Set ZIP=<LMS zip of submissions> (pattern: docs/ta.md)"; exit 2; }
	$(BIN)/python -m course_tools.collect $(ASSIGNMENT) $(ZIP) $(if $(STUDENTS),--students $(STUDENTS),)

autograde: setup ## autograde every submission, JOBS at a time, sandboxed (ASSIGNMENT=, JOBS=)
	$(need_assignment)
	$(BIN)/python -m course_tools.autograde $(ASSIGNMENT) --jobs $(JOBS) \
	  $(if $(WALL),--wall $(WALL),) $(if $(MEM_MB),--mem-mb $(MEM_MB),) $(if $(NO_SANDBOX),--no-sandbox,)

feedback: setup ## per-student feedback HTML without hidden tests, leak-checked (ASSIGNMENT=)
	$(need_assignment)
	$(BIN)/python -m course_tools.feedback $(ASSIGNMENT)

export: setup ## grades.csv: nbgrader export plus grading status, reason, needs_ta, lateness (errored: no score); canvas.csv
	$(BIN)/python -m course_tools.export

overrides: setup ## list the formgrader's manual scores and extra credit on autograded test cells (ASSIGNMENT=, STUDENT=, CELL=)
	$(need_assignment)
	$(BIN)/python -m course_tools.overrides $(ASSIGNMENT) --list $(if $(STUDENT),--student $(STUDENT),) $(if $(CELL),--cell $(CELL),)

reset-overrides: setup ## clear those overrides: the autograded scores count again (ASSIGNMENT=, STUDENT=, CELL=)
	$(need_assignment)
	$(BIN)/python -m course_tools.overrides $(ASSIGNMENT) $(if $(STUDENT),--student $(STUDENT),) $(if $(CELL),--cell $(CELL),)

bundle: release ## dist/<course id>-student.zip for students, scanned for leaks
	$(BIN)/python -m course_tools.bundle

sandbox-check: setup ## show what a sandboxed grading kernel can see and reach
	$(BIN)/python course_tools/sandbox.py check

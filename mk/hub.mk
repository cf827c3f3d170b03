# The course on a JupyterHub on this machine (docs/hub.md): real Linux accounts, nbgrader's
# exchange, the formgrader as a hub service. Run as root, on loopback.
#
#   sudo make hub          # accounts, exchange, hub at http://127.0.0.1:$(HUB_PORT); prints the logins
#   sudo make hub-stop     # ends the hub, the proxy and the accounts' servers (by pid)
#   sudo make hub-remove   # ... and deletes the accounts, their homes (the grades) and $(HUB_SRV)
#   make hub-values        # course_tools/hub/z2jh-values.yaml, the same course on Kubernetes
#
# HUB_PREFIX starts every account's name (default: the course id and -), HUB_STUDENTS is how many
# students, HUB_SRV what every account reads (default /srv/<course id>), HUB_STATE root's own state
# (hub database, passwords, logs, configurable-http-proxy from npm in $(HUB_STATE)/node_modules).

HUB_PORT ?= 8000
HUB_STUDENTS ?= 2
HUB_PREFIX ?=
HUB_SRV ?=
HUB_STATE ?= .hub

.PHONY: hub hub-stop hub-remove hub-values

hub: setup ## JupyterHub with the course's accounts on 127.0.0.1:HUB_PORT, as root (HUB_STUDENTS=, HUB_PREFIX=)
	$(BIN)/python -m course_tools.hub up --state "$(HUB_STATE)" --port $(HUB_PORT) --students $(HUB_STUDENTS) \
	  $(if $(HUB_PREFIX),--prefix "$(HUB_PREFIX)",) $(if $(HUB_SRV),--srv "$(HUB_SRV)",)

hub-stop: ## stop the hub of make hub: the hub, its proxy and every server of its accounts, by pid
	$(BIN)/python -m course_tools.hub down --state "$(HUB_STATE)"

hub-remove: ## stop the hub and delete what make hub made: its accounts, their homes (grades too), HUB_SRV
	$(BIN)/python -m course_tools.hub down --remove --state "$(HUB_STATE)"

hub-values: ## write course_tools/hub/z2jh-values.yaml: the course on zero-to-jupyterhub (docs/hub.md)
	$(BIN)/python -m course_tools.hub values

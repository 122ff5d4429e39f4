# The two commands of the README. Everything they need is installed by the project's own files.
.PHONY: demo test
demo:
	tools/demo
test:
	tools/run-tests

# Shortcuts; the scripts work without make.
.PHONY: demo test lint bench
demo:
	./scripts/demo
test:
	./scripts/test
lint:
	./scripts/lint
bench:
	./scripts/bench

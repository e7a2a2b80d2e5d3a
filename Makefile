# Shortcuts; the scripts work without make.
.PHONY: demo test lint bench
demo:
	./scripts/demo
test:
	./scripts/test
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
bench:
	./scripts/bench

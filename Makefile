# The course's commands. README.md calls `make lab` (set up + open JupyterLab) and `make test`
# (set up + run every test, notebooks included). Everything lives in .venv/ inside the repo.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export COURSE_MODE ?= tiny

.PHONY: setup git-filter lab course test unit notebooks student colab slides book benchmarks figures models pack unpack clean \
	translations translations-status

setup: $(STAMP) git-filter

# JupyterLab saves outputs into the notebooks it runs. This git filter (nbstripout, configured for this clone
# only) strips them, and the kernel details JupyterLab adds, from what git sees: `git status` stays clean after
# a session and `git pull` never conflicts over outputs. Your own code edits still show (see README).
NBSTRIP := $(abspath $(BIN))/python -m nbstripout --keep-id --extra-keys "metadata.language_info.codemirror_mode \
	metadata.language_info.file_extension metadata.language_info.mimetype metadata.language_info.nbconvert_exporter \
	metadata.language_info.pygments_lexer metadata.language_info.version cell.metadata.jp-MarkdownHeadingCollapsed"
git-filter: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config filter.nbstripout.clean '$(NBSTRIP)' && git config filter.nbstripout.smudge cat && \
		git config diff.ipynb.textconv '$(NBSTRIP) -t'; fi

# Reinstall when the pins change. --no-build-isolation: setuptools<81 from the pins builds utils.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# Execute every notebook into build/ (outputs kept there, never committed).
course: setup
	mkdir -p build
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir build notebooks/*.ipynb

# One translated notebook per language also runs under nbval, after notebooks/ (so 03-05 find the tiny models
# that notebooks 02-05 trained). Those not generated yet are left out; tests/test_translations.py requires the
# ones translations/MANIFEST asks for.
TRANSLATED_NOTEBOOKS := $(wildcard translations/he/notebooks/01_contrastive_loss.ipynb \
	translations/sl/notebooks/03_zero_shot_classification.ipynb translations/uk/notebooks/04_text_image_retrieval.ipynb \
	translations/fa/notebooks/05_vector_quantization_vqgan.ipynb translations/et/notebooks/01_contrastive_loss.ipynb)

test: export COURSE_MODE = tiny
test: setup
	$(BIN)/python -m pytest tests notebooks $(TRANSLATED_NOTEBOOKS) tests_browser --nbval-lax --nbval-current-env --nbval-cell-timeout=1800 \
		-p no:cacheprovider -rs --durations=15 --junitxml=build/test-report.xml

# Student copies: every solution replaced by a "your turn" stub (committed; tests check they are current).
student: setup
	$(BIN)/python -m utils.student

# The course in other languages (README, "Languages"): translations/<lang>/notebooks/NN_slug.ipynb generated from
# each cells file and the English notebook, the language line atop the README and every lesson (English and
# translated), the note atop each translation that is behind its English source. `translations-status` lists
# the translations behind or missing (a report: it always succeeds).
translations: setup
	$(BIN)/python -m utils.translations

translations-status: setup
	$(BIN)/python -m utils.translations status

# The "Open in Colab" badge and first cell of every notebook, student copy and lesson, from the one address
# in pyproject.toml (a test checks they are current).
colab: setup
	$(BIN)/python -m utils.colab

# The course as a static HTML book (build/book/html/index.html): lessons and executed notebooks, with the outputs
# of the last `make test` run (build/executed/); notebooks missing there are executed first.
book: setup
	$(BIN)/python -m utils.book

# Slide marks for presenting a notebook with RISE (View > Render as slideshow), from each notebook's outline.
slides: setup
	$(BIN)/python -m utils.slides

unit: setup
	$(BIN)/python -m pytest tests -p no:cacheprovider

# The lessons' diagrams and result figures, drawn by code into lessons/figures/ (committed as PNG). Same
# bytes on every rerun. The result figures run the tiny models on one CPU thread: under a minute once they
# are cached (a model not cached yet is trained first, as in the notebooks).
figures: setup
	$(BIN)/python scripts/make_figures.py

# Before a workshop: train every tiny model once (`make models`), write them into one archive with a checksum
# manifest (`make pack`, FILE defaults to build/course-models.tar), copy it to each laptop and install it
# there with `make unpack FILE=...` (it refuses a damaged archive or one from another recipe version).
FILE ?= build/course-models.tar
models: setup
	$(BIN)/python -m utils.course_models train

pack: setup
	$(BIN)/python -m utils.course_models pack $(FILE)

unpack: setup
	$(BIN)/python -m utils.course_models unpack $(FILE)

benchmarks: setup
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build .cache

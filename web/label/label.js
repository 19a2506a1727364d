// The labelling page of `dance label`: one recording at a time, its proposed
// bar grid over the waveform, playback with a click on every beat (accented
// on the downbeat), keyboard-first corrections, and the decision sent to the
// server (dance/label_server.py), which writes the files.
// The grid is every `meter`-th beat of the server's beats from beat `offset`,
// moved by `nudgeMs`; the server rebuilds it from the same settings on accept.
const SAMPLE_RATE = 16000;
const METERS = [2, 3, 4, 5, 6, 7, 8, 9]; // dance/config.py LABEL_METERS
const NUDGE_STEP_MS = 10;
const MAX_NUDGE_MS = 500; // config.LABEL_MAX_NUDGE_SECONDS
const SEEK_SECONDS = 5;
const VIEW_SECONDS = 12; // the detailed view's width
const VIEW_LEAD = 0.25; // the play position sits this far into the view
const CLICK_LOOKAHEAD = 0.15; // seconds of clicks scheduled ahead of the play position
const TAP_RESET_SECONDS = 2; // a longer gap starts a new tap sequence
const TAPS_NEEDED = 4;
const TAP_SETTLE_MS = 1000; // the beats are found again this long after the last tap
const $ = (id) => document.getElementById(id);

const label = {
  todo: [], counts: {}, out: "", current: null, ready: false, busy: false, done: false,
  meter: 4, offset: 0, nudgeMs: 0, bpm: null, taps: [], tapTimer: null,
  context: null, source: null, playing: false, startedAt: 0, position: 0, clicksUntil: 0, clicks: 0,
};
window.label = label;

function say(text) { $("message").textContent = text; }
const mod = (a, n) => ((a % n) + n) % n;

async function api(path, options) {
  const response = await fetch(path, options);
  const body = response.headers.get("Content-Type") === "application/json" ? await response.json() : await response.arrayBuffer();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// ------------------------------------------------------------ the grid

function gridBeats() {
  const shift = label.nudgeMs / 1000;
  return label.current.proposal.beats.map((t) => t + shift);
}

function isDownbeat(index) { return mod(index - label.offset, label.meter) === 0; }

function barStarts() { return gridBeats().filter((_, i) => isDownbeat(i)); }

// ------------------------------------------------------------ recordings

async function start() {
  label.context = new AudioContext({ sampleRate: SAMPLE_RATE });
  makeMeterButtons();
  const list = await api("api/recordings");
  Object.assign(label, { todo: list.todo, counts: list.decided, out: list.out });
  await openNext();
}

async function openNext() {
  stop();
  label.ready = false;
  if (label.todo.length === 0) {
    label.current = null;
    label.done = true;
    $("file").textContent = "done";
    showProgress();
    say(`Every recording is decided. Next: dance data chop ${label.out} CHUNKS, then dance train ... --mix-chunks CHUNKS (see the README).`);
    draw();
    return;
  }
  const item = label.todo[0];
  label.current = { ...item, proposal: null, buffer: null, peaks: null, error: null };
  Object.assign(label, { nudgeMs: 0, bpm: null, taps: [], position: 0 });
  $("file").textContent = item.file;
  showProgress();
  say("finding the beats and asking the model where the bars start…");
  draw();
  try {
    const [proposal, wav] = await Promise.all([api(`api/proposal?name=${encodeURIComponent(item.name)}`),
                                               api(`api/audio?name=${encodeURIComponent(item.name)}`)]);
    if (label.current?.name !== item.name) return;
    label.current.proposal = proposal;
    label.current.buffer = await label.context.decodeAudioData(wav);
    label.current.peaks = null;
    Object.assign(label, { meter: proposal.meter, offset: proposal.offset });
    label.ready = true;
    say(`proposed: ${proposal.meter} beats per bar at ${proposal.tempo.toFixed(1)} BPM. Play it (space) and check the high click falls on each bar's first beat.`);
  } catch (error) {
    label.current.error = error.message;
    say(`${error.message}. Reject (r) or skip (s) it.`);
  }
  update();
}

function showProgress() {
  const c = label.counts;
  $("progress").textContent = `${label.todo.length} to go · ${c.accepted || 0} accepted, ${c.rejected || 0} rejected, ${c.skipped || 0} skipped`;
}

async function decide(decision) {
  if (!label.current || label.busy || (decision === "accept" && !label.ready)) return;
  label.busy = true;
  const body = { name: label.current.name, decision };
  if (decision === "accept") Object.assign(body, { meter: label.meter, offset: label.offset, nudge_ms: label.nudgeMs, bpm: label.bpm });
  try {
    await api("api/decision", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const word = { accept: "accepted", reject: "rejected", skip: "skipped" }[decision];
    label.counts[word] = (label.counts[word] || 0) + 1;
    label.todo.shift();
    label.busy = false;
    await openNext();
  } catch (error) {
    label.busy = false;
    say(`not saved: ${error.message}`);
  }
}

// ------------------------------------------------------------ corrections

function shiftDownbeat(beats) { label.offset = mod(label.offset + beats, label.meter); update(); }

function setMeter(meter) {
  label.meter = meter;
  label.offset = label.current.proposal.best_offsets[meter]; // where the model hears the bar start in this meter
  update();
}

function nudge(ms) { label.nudgeMs = Math.max(-MAX_NUDGE_MS, Math.min(MAX_NUDGE_MS, label.nudgeMs + ms)); update(); }

function tap() {
  const now = performance.now() / 1000;
  if (label.taps.length && now - label.taps[label.taps.length - 1] > TAP_RESET_SECONDS) label.taps = [];
  label.taps.push(now);
  clearTimeout(label.tapTimer);
  const intervals = label.taps.slice(1).map((t, i) => t - label.taps[i]).sort((a, b) => a - b);
  if (label.taps.length < TAPS_NEEDED) {
    say(`tap ${label.taps.length} of at least ${TAPS_NEEDED}…`);
    return;
  }
  const bpm = Math.round(600 / intervals[Math.floor(intervals.length / 2)]) / 10;
  say(`tapped ${bpm} BPM; finding the beats at that tempo when you stop tapping…`);
  label.tapTimer = setTimeout(() => retrack(bpm), TAP_SETTLE_MS);
}

async function retrack(bpm) {
  const name = label.current.name;
  try {
    const proposal = await api(`api/proposal?name=${encodeURIComponent(name)}&bpm=${bpm}`);
    if (label.current?.name !== name) return;
    Object.assign(label.current.proposal, { beats: proposal.beats, tempo: proposal.tempo, best_offsets: proposal.best_offsets });
    label.bpm = bpm;
    label.offset = proposal.best_offsets[label.meter];
    label.taps = [];
    say(`beats found again at ${bpm} BPM.`);
    update();
  } catch (error) {
    say(`tempo ${bpm} BPM: ${error.message}`);
  }
}

// ------------------------------------------------------------ playback with clicks

function play() {
  if (!label.current?.buffer) return;
  label.context.resume();
  const source = label.context.createBufferSource();
  source.buffer = label.current.buffer;
  source.connect(label.context.destination);
  const from = Math.min(label.position, label.current.buffer.duration - 0.05);
  source.start(0, Math.max(0, from));
  source.onended = () => { if (label.source === source) { label.position = currentPosition(); stop(); update(); } };
  Object.assign(label, { source, playing: true, startedAt: label.context.currentTime - from, clicksUntil: from });
  requestAnimationFrame(frame);
}

function stop() {
  if (label.source) {
    label.position = currentPosition();
    const source = label.source;
    label.source = null;
    source.stop();
  }
  label.playing = false;
}

function currentPosition() { return label.playing ? label.context.currentTime - label.startedAt : label.position; }

function seek(seconds) {
  const duration = label.current?.buffer?.duration || 0;
  const playing = label.playing;
  stop();
  label.position = Math.max(0, Math.min(duration, seconds));
  if (playing) play(); else update();
}

// clicks are scheduled a little ahead on the audio clock, so a correction is heard at once
function scheduleClicks() {
  const until = currentPosition() + CLICK_LOOKAHEAD;
  gridBeats().forEach((t, i) => {
    if (t < label.clicksUntil || t >= until) return;
    click(label.startedAt + t, isDownbeat(i));
  });
  label.clicksUntil = until;
}

function click(when, accent) {
  const context = label.context;
  const tone = context.createOscillator();
  const gain = context.createGain();
  tone.frequency.value = accent ? 1760 : 880;
  gain.gain.setValueAtTime(accent ? 0.9 : 0.35, when);
  gain.gain.exponentialRampToValueAtTime(0.001, when + 0.04);
  tone.connect(gain).connect(context.destination);
  tone.start(when);
  tone.stop(when + 0.05);
  label.clicks += 1;
}

function frame() {
  if (!label.playing) return;
  scheduleClicks();
  draw();
  requestAnimationFrame(frame);
}

// ------------------------------------------------------------ drawing

function sizeCanvas(canvas) {
  const scale = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * scale), height = Math.round(canvas.clientHeight * scale);
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  return canvas.getContext("2d");
}

// min and max of the samples under each of `columns` columns of [from, to) seconds
function peaks(samples, from, to, columns) {
  const out = new Float32Array(2 * columns);
  const perColumn = ((to - from) * SAMPLE_RATE) / columns;
  for (let c = 0; c < columns; c++) {
    const first = Math.max(0, Math.floor(from * SAMPLE_RATE + c * perColumn));
    const last = Math.min(samples.length, Math.floor(from * SAMPLE_RATE + (c + 1) * perColumn));
    let low = 0, high = 0;
    for (let i = first; i < last; i++) { const s = samples[i]; if (s < low) low = s; if (s > high) high = s; }
    out[2 * c] = low; out[2 * c + 1] = high;
  }
  return out;
}

function drawWave(g, values, height) {
  g.fillStyle = "#4a6";
  for (let c = 0; c < values.length / 2; c++) {
    const top = (0.5 - values[2 * c + 1] / 2) * height, bottom = (0.5 - values[2 * c] / 2) * height;
    g.fillRect(c, top, 1, Math.max(1, bottom - top));
  }
}

function line(g, x, height, colour, width) { g.fillStyle = colour; g.fillRect(Math.round(x - width / 2), 0, width, height); }

function draw() {
  const overview = sizeCanvas($("overview")), view = sizeCanvas($("view"));
  for (const g of [overview, view]) g.clearRect(0, 0, g.canvas.width, g.canvas.height);
  const buffer = label.current?.buffer;
  if (!buffer) return;
  const samples = buffer.getChannelData(0), duration = buffer.duration, position = currentPosition();
  // the whole recording
  const W = overview.canvas.width, H = overview.canvas.height;
  if (!label.current.peaks || label.current.peaks.length !== 2 * W) label.current.peaks = peaks(samples, 0, duration, W);
  drawWave(overview, label.current.peaks, H);
  for (const t of barStarts()) line(overview, (t / duration) * W, H, "rgba(238,102,51,0.45)", 1);
  line(overview, (position / duration) * W, H, "#fff", 2);
  // the detailed view around the play position
  const w = view.canvas.width, h = view.canvas.height, from = Math.max(0, position - VIEW_LEAD * VIEW_SECONDS);
  const x = (t) => ((t - from) / VIEW_SECONDS) * w;
  drawWave(view, peaks(samples, from, from + VIEW_SECONDS, w), h);
  view.font = `${Math.round(12 * (window.devicePixelRatio || 1))}px system-ui`;
  let bar = 0;
  gridBeats().forEach((t, i) => {
    const downbeat = isDownbeat(i);
    if (downbeat) bar += 1;
    if (t < from || t > from + VIEW_SECONDS) return;
    line(view, x(t), h, downbeat ? "#e63" : "#777", downbeat ? 3 : 1);
    if (downbeat) { view.fillStyle = "#e63"; view.fillText(String(bar), x(t) + 4, h - 6); }
  });
  view.fillStyle = "#3cf";
  for (const t of label.current.proposal?.model_downbeats || []) {
    if (t < from || t > from + VIEW_SECONDS) continue;
    view.beginPath(); view.moveTo(x(t) - 6, 0); view.lineTo(x(t) + 6, 0); view.lineTo(x(t), 10); view.fill();
  }
  line(view, x(position), h, "#fff", 2);
}

function update() {
  const proposal = label.current?.proposal;
  $("meter").textContent = proposal ? label.meter : "–";
  const moved = proposal ? mod(label.offset - proposal.best_offsets[label.meter], label.meter) : 0;
  $("offset").textContent = proposal ? (moved ? `${moved} beat(s) after the model's choice` : "the model's choice") : "–";
  $("nudge").textContent = `${label.nudgeMs > 0 ? "+" : ""}${label.nudgeMs} ms`;
  $("tempo").textContent = proposal ? `${proposal.tempo.toFixed(1)} BPM ${label.bpm ? "(tapped)" : "(beat tracker)"}` : "–";
  $("position").textContent = `${currentPosition().toFixed(1)} s`;
  for (const button of document.querySelectorAll("button.meter")) button.classList.toggle("on", Number(button.dataset.key) === label.meter);
  for (const button of document.querySelectorAll("button[data-key]")) {
    const needsGrid = !["r", "s"].includes(button.dataset.key);
    button.disabled = label.done || label.busy || !label.current || (needsGrid && !label.ready);
  }
  draw();
}

function makeMeterButtons() {
  for (const meter of METERS) {
    const button = document.createElement("button");
    button.className = "meter";
    button.dataset.key = String(meter);
    button.innerHTML = `${meter}<kbd>${meter}</kbd>`;
    $("meters").append(button);
  }
}

// ------------------------------------------------------------ keys and buttons

const ACTIONS = {
  " ": () => (label.playing ? (stop(), update()) : play()),
  ArrowLeft: () => seek(currentPosition() - SEEK_SECONDS),
  ArrowRight: () => seek(currentPosition() + SEEK_SECONDS),
  h: () => shiftDownbeat(-1),
  l: () => shiftDownbeat(1),
  "[": () => nudge(-NUDGE_STEP_MS),
  "]": () => nudge(NUDGE_STEP_MS),
  t: tap,
  a: () => decide("accept"),
  r: () => decide("reject"),
  s: () => decide("skip"),
  ...Object.fromEntries(METERS.map((m) => [String(m), () => setMeter(m)])),
};

// false when the key is not ours (the browser keeps it) or not possible now
function act(key) {
  if (!ACTIONS[key] || label.busy || !label.current) return false;
  if (!label.ready && key !== "r" && key !== "s") return false; // a recording that failed can only be rejected or skipped
  ACTIONS[key]();
  return true;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (act(event.key)) event.preventDefault();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-key]");
  if (button) { act(button.dataset.key); button.blur(); }
});
for (const id of ["overview", "view"]) {
  $(id).addEventListener("click", (event) => {
    const buffer = label.current?.buffer;
    if (!buffer) return;
    const fraction = event.offsetX / event.target.clientWidth;
    const position = currentPosition();
    const from = Math.max(0, position - VIEW_LEAD * VIEW_SECONDS);
    seek(id === "overview" ? fraction * buffer.duration : from + fraction * VIEW_SECONDS);
  });
}
window.addEventListener("resize", draw);

start().catch((error) => say(`cannot start: ${error.message}`));

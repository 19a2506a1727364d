// The labelling page of `dance label`: one recording at a time, its proposed
// bar grid over the waveform, playback with a click on every beat (accented
// on the downbeat), keyboard-first corrections, and the decision sent to the
// server (dance/label_server.py), which writes the files.
// Change marks cut the recording into sections; each section's grid is every
// `meter`-th of its beats from beat `offset` (its beats: the server's, or for
// a tapped tempo the tracker's held to it on that section alone), and
// `nudgeMs` moves the whole grid; the server rebuilds it from the same
// settings on accept.
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
const SECTION_LEAD = 0.05; // dance/label.py SECTION_LEAD_SECONDS: a section owns its beats from this long before its mark
const MIN_SECTION_SECONDS = 1; // dance/label.py: change marks this far from each other, the start and the end
const $ = (id) => document.getElementById(id);

// sections: [{start (the change mark, seconds; 0 for the first), meter, offset,
// bpm (tapped, or null), beats, tempo, best_offsets (the tracker's at the
// tapped tempo, or null: the whole recording's), trackedFor (the stretch those
// beats were tracked on)}]
const label = {
  todo: [], counts: {}, out: "", current: null, ready: false, busy: false, done: false,
  sections: [], nudgeMs: 0, taps: [], tapTimer: null,
  context: null, source: null, playing: false, startedAt: 0, position: 0, clicksUntil: 0, clicks: 0,
  get here() { return here(); }, // the section under the play position
  get meter() { return here()?.meter; },
  get offset() { return here()?.offset; },
  get settled() { return stale().length === 0; }, // every tapped section's beats tracked on its stretch as it is now
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

const shift = () => label.nudgeMs / 1000;
function sectionEnd(i) { return label.sections[i + 1]?.start ?? null; } // null: the end of the recording
const stretch = (i) => `${label.sections[i].start}-${sectionEnd(i)}`;

// a section's beats: from SECTION_LEAD before its mark to that before the next (dance/label.py owned)
function sectionBeats(i) {
  const section = label.sections[i], end = sectionEnd(i);
  const low = section.start ? section.start - SECTION_LEAD : -Infinity, high = end === null ? Infinity : end - SECTION_LEAD;
  return (section.beats || label.current.proposal.beats).filter((t) => t >= low && t < high);
}

// the section a time on the (nudged) grid falls in
function sectionAt(t) {
  let i = 0;
  while (i + 1 < label.sections.length && t >= label.sections[i + 1].start - SECTION_LEAD + shift()) i += 1;
  return i;
}

function here() { return label.sections[sectionAt(currentPosition())]; }

// every beat as heard and drawn: {t (nudged), beat (the server's time), downbeat, bar (its bar's number)}
function grid() {
  const beats = [];
  let bar = 0;
  label.sections.forEach((section, i) => sectionBeats(i).forEach((t, j) => {
    const downbeat = j >= section.offset && (j - section.offset) % section.meter === 0;
    if (downbeat) bar += 1;
    beats.push({ t: t + shift(), beat: t, downbeat, bar });
  }));
  return beats;
}

// tapped sections whose beats were tracked on another stretch than theirs now (a mark was added or removed)
const stale = () => label.sections.filter((section, i) => section.bpm && section.trackedFor !== stretch(i));

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
  Object.assign(label, { sections: [], nudgeMs: 0, taps: [], position: 0 });
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
    label.sections = [{ start: 0, meter: proposal.meter, offset: proposal.offset, bpm: null, beats: null, tempo: proposal.tempo, best_offsets: null }];
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
  if (decision === "accept" && !label.settled) { say("still finding the beats of a tapped section; accept again in a moment."); return; }
  label.busy = true;
  const body = { name: label.current.name, decision };
  if (decision === "accept") {
    const [first, ...changes] = label.sections;
    Object.assign(body, { meter: first.meter, offset: first.offset, nudge_ms: label.nudgeMs, bpm: first.bpm,
                          changes: changes.map((s) => ({ start: s.start, meter: s.meter, offset: s.offset, bpm: s.bpm })) });
  }
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

function shiftDownbeat(beats) { const section = here(); section.offset = mod(section.offset + beats, section.meter); update(); }

// the first section's downbeat goes where the model hears the bar start in this meter; a later one's on its change mark
function setMeter(meter) {
  const section = here();
  section.meter = meter;
  section.offset = section.start ? 0 : (section.best_offsets || label.current.proposal.best_offsets)[meter];
  update();
}

// a new section from the beat nearest the play position, in the meter and tapped tempo of the one it splits
function addChange() {
  const position = currentPosition(), duration = label.current.buffer.duration;
  const nearest = grid().reduce((a, b) => (Math.abs(b.t - position) < Math.abs(a.t - position) ? b : a));
  const start = nearest.beat;
  if (start < MIN_SECTION_SECONDS || start > duration - MIN_SECTION_SECONDS
      || label.sections.some((s) => s.start && Math.abs(s.start - start) < MIN_SECTION_SECONDS)) {
    say(`no change mark at ${start.toFixed(2)} s: marks must be at least ${MIN_SECTION_SECONDS} s from each other and from the start and end.`);
    return;
  }
  const parent = label.sections[sectionAt(nearest.t)];
  label.sections.push({ start, meter: parent.meter, offset: 0, bpm: parent.bpm, beats: null, tempo: parent.tempo, best_offsets: null });
  label.sections.sort((a, b) => a.start - b.start);
  say(`a change starts at ${start.toFixed(2)} s: set its beats per bar (2-9), downbeat (h/l) or tempo (t) with the play position after it.`);
  retrackStale();
  update();
}

function removeChange() {
  const marks = label.sections.slice(1);
  if (!marks.length) { say("no change marks to remove."); return; }
  const position = currentPosition();
  const nearest = marks.reduce((a, b) => (Math.abs(b.start + shift() - position) < Math.abs(a.start + shift() - position) ? b : a));
  label.sections.splice(label.sections.indexOf(nearest), 1);
  say(`change mark at ${nearest.start.toFixed(2)} s removed.`);
  retrackStale();
  update();
}

function retrackStale() { for (const section of stale()) retrack(section, section.bpm, false); }

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
  label.tapTimer = setTimeout(() => retrack(here(), bpm, true), TAP_SETTLE_MS);
}

// the beats of one section found again, held to `bpm` on its stretch alone;
// after a tap the first section's downbeat goes where the model hears it
async function retrack(section, bpm, tapped) {
  const name = label.current.name, i = label.sections.indexOf(section), end = sectionEnd(i), wanted = stretch(i);
  const where = (section.start ? `&from=${section.start}` : "") + (end === null ? "" : `&to=${end}`);
  try {
    const proposal = await api(`api/proposal?name=${encodeURIComponent(name)}&bpm=${bpm}${where}`);
    const now = label.sections.indexOf(section);
    if (label.current?.name !== name || now < 0 || stretch(now) !== wanted) return; // the section changed meanwhile
    Object.assign(section, { beats: proposal.beats, tempo: proposal.tempo, best_offsets: proposal.best_offsets, bpm, trackedFor: wanted });
    if (tapped && !section.start) section.offset = proposal.best_offsets[section.meter];
    if (tapped) { label.taps = []; say(`beats found again at ${bpm} BPM${label.sections.length > 1 ? " in this section" : ""}.`); }
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
  for (const { t, downbeat } of grid()) {
    if (t >= label.clicksUntil && t < until) click(label.startedAt + t, downbeat);
  }
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
  showSection();
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

const CHANGE_COLOUR = "#d6f";

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
  const beats = grid(), marks = label.sections.slice(1);
  for (const { t } of beats.filter((b) => b.downbeat)) line(overview, (t / duration) * W, H, "rgba(238,102,51,0.45)", 1);
  for (const { start } of marks) line(overview, ((start + shift()) / duration) * W, H, CHANGE_COLOUR, 2);
  line(overview, (position / duration) * W, H, "#fff", 2);
  // the detailed view around the play position
  const w = view.canvas.width, h = view.canvas.height, from = Math.max(0, position - VIEW_LEAD * VIEW_SECONDS);
  const x = (t) => ((t - from) / VIEW_SECONDS) * w;
  drawWave(view, peaks(samples, from, from + VIEW_SECONDS, w), h);
  view.font = `${Math.round(12 * (window.devicePixelRatio || 1))}px system-ui`;
  for (const { t, downbeat, bar } of beats) {
    if (t < from || t > from + VIEW_SECONDS) continue;
    line(view, x(t), h, downbeat ? "#e63" : "#777", downbeat ? 3 : 1);
    if (downbeat) { view.fillStyle = "#e63"; view.fillText(String(bar), x(t) + 4, h - 6); }
  }
  const scale = window.devicePixelRatio || 1;
  for (const section of marks) {
    const t = section.start + shift();
    if (t < from || t > from + VIEW_SECONDS) continue;
    line(view, x(t) - 3 * scale, h, CHANGE_COLOUR, 2 * scale);
    view.fillStyle = CHANGE_COLOUR;
    view.fillText(`${section.meter} beats/bar${section.bpm ? `, ${section.bpm} BPM` : ""}`, x(t) + 4, 26 * scale);
  }
  view.fillStyle = "#3cf";
  for (const t of label.current.proposal?.model_downbeats || []) {
    if (t < from || t > from + VIEW_SECONDS) continue;
    view.beginPath(); view.moveTo(x(t) - 6, 0); view.lineTo(x(t) + 6, 0); view.lineTo(x(t), 10); view.fill();
  }
  line(view, x(position), h, "#fff", 2);
}

// the readout of the section under the play position, which moves while playing
function showSection() {
  const section = label.ready ? here() : null;
  $("section").textContent = section ? `${label.sections.indexOf(section) + 1} of ${label.sections.length}, from ${section.start.toFixed(2)} s` : "–";
  $("meter").textContent = section ? section.meter : "–";
  const best = section && !section.start ? (section.best_offsets || label.current.proposal.best_offsets)[section.meter] : 0;
  const moved = section ? mod(section.offset - best, section.meter) : 0;
  const choice = section?.start ? "the change mark" : "the model's choice";
  $("offset").textContent = section ? (moved ? `${moved} beat(s) after ${choice}` : choice) : "–";
  $("tempo").textContent = section ? `${section.tempo.toFixed(1)} BPM ${section.bpm ? "(tapped)" : "(beat tracker)"}` : "–";
  $("position").textContent = `${currentPosition().toFixed(1)} s`;
  for (const button of document.querySelectorAll("button.meter")) button.classList.toggle("on", Number(button.dataset.key) === section?.meter);
}

function update() {
  showSection();
  $("nudge").textContent = `${label.nudgeMs > 0 ? "+" : ""}${label.nudgeMs} ms`;
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
  m: addChange,
  M: removeChange,
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

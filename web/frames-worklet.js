// Runs on the audio thread: collects mono 320-sample frames (20 ms at the
// context's 16 kHz) and posts each one to the page. No model runs here:
// onnxruntime-web cannot run inside an AudioWorklet.
const FRAME_SIZE = 320;

class FrameCollector extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = new Float32Array(FRAME_SIZE);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const length = channels[0].length;
    for (let i = 0; i < length; i++) {
      let sum = 0;
      for (let c = 0; c < channels.length; c++) sum += channels[c][i];
      this.frame[this.filled++] = sum / channels.length;
      if (this.filled === FRAME_SIZE) {
        this.port.postMessage(this.frame, [this.frame.buffer]);
        this.frame = new Float32Array(FRAME_SIZE);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("frame-collector", FrameCollector);

// Runs on the audio thread: collects mono frames of the model's frame size
// (processorOptions.frameSize, from model.json: 320 samples, 20 ms at 16 kHz)
// and posts each one to the page. No model runs here: onnxruntime-web cannot
// run inside an AudioWorklet.
class FrameCollector extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frameSize = options.processorOptions.frameSize;
    this.frame = new Float32Array(this.frameSize);
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
      if (this.filled === this.frameSize) {
        this.port.postMessage(this.frame, [this.frame.buffer]);
        this.frame = new Float32Array(this.frameSize);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("frame-collector", FrameCollector);

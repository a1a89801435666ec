/** Short sounds (WebAudio) and vibration on a tap and on a win; off until the trader turns them on. */

const STORAGE_KEY = 'taptrade.feedback';

export class Feedback {
  private audio: AudioContext | null = null;
  enabled: boolean;

  constructor(private readonly storage: Storage | null = typeof localStorage === 'undefined' ? null : localStorage) {
    this.enabled = this.storage?.getItem(STORAGE_KEY) === 'on';
  }

  setEnabled(on: boolean): void {
    this.enabled = on;
    this.storage?.setItem(STORAGE_KEY, on ? 'on' : 'off');
    if (on) this.context(); // create it inside the click that turned it on (autoplay rules)
  }

  tap(): void {
    if (!this.enabled) return;
    this.tone([880], 0.05);
    navigator.vibrate?.(12);
  }

  win(): void {
    if (!this.enabled) return;
    this.tone([660, 880, 1320], 0.09);
    navigator.vibrate?.([30, 40, 60]);
  }

  private context(): AudioContext | null {
    if (this.audio === null && typeof AudioContext !== 'undefined') this.audio = new AudioContext();
    if (this.audio?.state === 'suspended') void this.audio.resume();
    return this.audio;
  }

  private tone(frequencies: number[], seconds: number): void {
    const ctx = this.context();
    if (ctx === null) return;
    let at = ctx.currentTime;
    for (const frequency of frequencies) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.12, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + seconds);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + seconds);
      at += seconds * 0.9;
    }
  }
}

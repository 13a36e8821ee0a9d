// The live event stream (`GET /api/1/events`, Server-Sent Events) read with fetch, because
// EventSource cannot send the Basic credentials. While the stream is not there (an older
// daemon, a dropped connection) the page polls instead; `mode` says which.

import { fetchApi } from './api.js';

/** Nothing at all (not even the 15 s heartbeat) for this long means the stream is dead. */
const SILENCE_MS = 40000;
/** A daemon without the stream is asked again this seldom. */
const ABSENT_RETRY_MS = 30000;
const MAX_BACKOFF_MS = 30000;

/**
 * Splits Server-Sent Events text into events, as the HTML standard's parser does: fields
 * `event`, `data` (lines joined by "\n"), `id`; comments start with ":"; a blank line ends
 * an event. Fed arbitrary chunks; returns a function taking the next chunk.
 */
export function sseParser(onEvent, onAnyLine = () => {}) {
  let buffer = '';
  let endedWithCR = false;
  let event = '';
  let data = [];
  let id = null;
  return (chunk) => {
    // A CRLF split between two chunks is one line end, not two.
    if (endedWithCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
    endedWithCR = chunk.endsWith('\r');
    buffer += chunk;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      onAnyLine();
      if (line === '') {
        if (data.length) onEvent({ type: event || 'message', data: data.join('\n'), id });
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
  };
}

export class LiveEvents {
  /**
   * `onEvent(type, payload)` for every event; `onMode(mode)` with `connecting`, `live` or
   * `polling`; `onOpen()` each time the stream (re)opens, to read the state afresh.
   */
  constructor({ onEvent, onMode, onOpen }) {
    this.onEvent = onEvent;
    this.onMode = onMode;
    this.onOpen = onOpen;
    this.mode = 'connecting';
    this.lastId = null;
    this.failures = 0;
    this.stopped = true;
    this.abort = null;
    this.retryTimer = null;
    // Each start or stop begins a new generation; a connection of an older one gives up.
    this.generation = 0;
  }

  start() {
    this.stopped = false;
    this.generation += 1;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    if (this.abort) this.abort.abort();
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.onMode(mode);
  }

  async connect() {
    if (this.stopped) return;
    const generation = this.generation;
    const abort = new AbortController();
    this.abort = abort;
    let silence = null;
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(), SILENCE_MS);
    };
    let retryIn = 1000;
    try {
      const headers = { Accept: 'text/event-stream' };
      if (this.lastId) headers['Last-Event-ID'] = this.lastId;
      const response = await fetchApi('/events', { headers, signal: abort.signal });
      const type = response.headers.get('content-type') || '';
      if (!type.startsWith('text/event-stream')) throw new Error(`/events answered ${type}`);
      this.failures = 0;
      this.setMode('live');
      this.onOpen();
      alive();
      const parse = sseParser((e) => this.dispatch(e), alive);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parse(value);
      }
    } catch (error) {
      if (error && error.status === 401) {
        this.stopped = true;
      } else if (error && (error.status === 404 || error.status === 405)) {
        retryIn = ABSENT_RETRY_MS;
      } else {
        this.failures += 1;
        retryIn = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures - 1, 5));
      }
    } finally {
      clearTimeout(silence);
    }
    if (this.stopped || generation !== this.generation) return;
    this.setMode('polling');
    this.retryTimer = setTimeout(() => this.connect(), retryIn);
  }

  dispatch({ type, data, id }) {
    if (id) this.lastId = id;
    let payload = null;
    try {
      payload = JSON.parse(data);
    } catch {
      payload = { raw: data };
    }
    if (type === 'overflow') {
      // The daemon ends the stream after this; the reconnect resumes from lastId.
      return;
    }
    this.onEvent(type, payload);
  }
}

// The control page: sign-in, the capture controls, the live picture and meters, and what a
// person at the lectern or a technician at a desk wants to see at a glance.

import * as api from './api.js';
import { LiveEvents } from './live.js';
import * as fmt from './format.js';

const $ = (id) => document.getElementById(id);

/** States in which a session exists and the start form has nothing to do. */
const ACTIVE = new Set(['starting', 'capturing', 'paused', 'stopping']);
/** States in which the session produces a picture. */
const PICTURE = new Set(['capturing', 'paused']);
const STATUS_EVERY_LIVE_MS = 10000;
const STATUS_EVERY_POLLING_MS = 1000;
const LISTS_EVERY_MS = 15000;
/** Without `levels` events for this long the meters ask the audio devices themselves. */
const LEVELS_STALE_MS = 2500;
const METER_FLOOR_DB = -60;

const page = {
  capture: { state: 'idle' },
  captureAt: 0, // performance.now() when `capture` was read
  timeZone: undefined,
  statusAlarms: [],
  eventAlarms: [],
  levels: {}, // node → {peak, rms, silent}
  levelsAt: 0,
  levelsFromEvents: false,
  audioDevices: null, // {sessionID, devices: [[nodeID, deviceID]]} for the fallback meters
  busy: false,
  timers: [],
  previewURL: null,
  previewBusy: false,
  reachable: true,
};

const live = new LiveEvents({
  onEvent: handleEvent,
  onMode: (mode) => {
    showLink();
    scheduleStatus();
  },
  onOpen: () => refreshAll(),
});

// ---------------------------------------------------------------- sign-in

function showLogin(message) {
  stopApp();
  $('app-view').hidden = true;
  $('user').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  showError($('login-error'), message);
  $('login-password').value = '';
  ($('login-user').value ? $('login-password') : $('login-user')).focus();
}

function showError(element, message) {
  element.textContent = message || '';
  element.hidden = !message;
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('login-submit');
  button.disabled = true;
  showError($('login-error'), '');
  try {
    await api.login($('login-user').value.trim(), $('login-password').value);
    showApp();
  } catch (error) {
    showError($('login-error'), error.message || 'The daemon cannot be reached.');
  } finally {
    button.disabled = false;
  }
});

$('logout').addEventListener('click', () => {
  api.forget();
  showLogin();
});

api.setUnauthorizedHandler((error) => {
  api.forget();
  showLogin(error.message);
});

// ---------------------------------------------------------------- the control page

function showApp() {
  const who = api.session();
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('user').textContent = who.username;
  $('user').hidden = false;
  $('logout').hidden = false;
  loadTemplates();
  refreshAll();
  live.start();
  page.timers.push(setInterval(tick, 250));
  page.timers.push(setInterval(refreshLists, LISTS_EVERY_MS));
  page.timers.push(setInterval(refreshPreview, 1000));
  page.timers.push(setInterval(pollLevels, 1000));
  scheduleStatus();
}

function stopApp() {
  live.stop();
  page.timers.forEach(clearInterval);
  page.timers = [];
  clearTimeout(page.statusTimer);
  page.statusTimer = null;
}

/** Status is read every second while polling, every ten while the event stream runs. */
function scheduleStatus() {
  clearTimeout(page.statusTimer);
  if ($('app-view').hidden) return;
  const every = live.mode === 'live' ? STATUS_EVERY_LIVE_MS : STATUS_EVERY_POLLING_MS;
  page.statusTimer = setTimeout(async () => {
    await refreshStatus();
    scheduleStatus();
  }, every);
}

function refreshAll() {
  refreshStatus();
  refreshLists();
}

function refreshLists() {
  refreshSchedule();
  refreshPackages();
  refreshOpencast();
}

async function quietly(task) {
  try {
    await task();
    setReachable(true);
  } catch (error) {
    if (error instanceof api.ApiError) setReachable(true);
    else setReachable(false);
  }
}

function setReachable(reachable) {
  if (page.reachable === reachable) return;
  page.reachable = reachable;
  showLink();
}

function showLink() {
  const link = $('link');
  const mode = page.reachable ? live.mode : 'offline';
  link.dataset.mode = mode;
  link.textContent = { live: 'Live', polling: 'Polling', connecting: 'Connecting', offline: 'Offline' }[mode];
  link.title = {
    live: 'Updates arrive as they happen',
    polling: 'The event stream is not available; status is read every second',
    connecting: 'Connecting to the event stream',
    offline: 'castd does not answer',
  }[mode];
}

async function refreshStatus() {
  await quietly(async () => {
    const status = await api.get('/status');
    page.timeZone = status.unit.timezone;
    $('unit-name').textContent = status.unit.unitName;
    document.title = `${status.unit.unitName} · castd`;
    applyCapture(status.capture);
    showDisk(status.diskSpace);
    page.statusAlarms = status.alarms || [];
    showAlarms();
  });
}

/** The Opencast link, for everyone who may see the unit's status; hidden when it is off. */
async function refreshOpencast() {
  await quietly(async () => showOpencast(await api.get('/opencast/status')));
}

function showOpencast(link) {
  const card = $('opencast-card');
  card.hidden = !link || !link.enabled;
  if (card.hidden) return;
  const ago = (ms) => (ms ? fmt.clock(ms, page.timeZone) : 'never since castd started');
  $('opencast-agent').textContent = link.backupMode ? `${link.agentName} (backup mode)` : link.agentName;
  $('opencast-state').textContent = link.state || 'not reported yet';
  $('opencast-contact').textContent = ago(link.lastContact);
  $('opencast-calendar').textContent = `${link.calendarEvents} event(s), fetched ${ago(link.lastCalendar)}`;
  $('opencast-waiting').textContent = `${link.outbox} state(s) to send, ${link.ingestQueue} ingest(s)`;
  const error = link.lastError;
  const rejected = (link.rejected || []).map((r) => `${r.uid}: ${r.reason}`);
  const problems = [error ? `${error.message} (${error.code})` : null, ...rejected].filter(Boolean);
  $('opencast-error').hidden = problems.length === 0;
  $('opencast-error').textContent = problems.join('\n');
  card.dataset.healthy = problems.length === 0 ? 'yes' : 'no';
}

async function refreshCapture() {
  await quietly(async () => applyCapture(await api.get('/status/capture')));
}

// ---------------------------------------------------------------- events

function handleEvent(type, event) {
  switch (type) {
    case 'captureState':
      // The event names the state; the times and title come with the full status.
      applyCapture({ ...page.capture, state: event.state, sessionID: event.sessionID });
      refreshCapture();
      if (!ACTIVE.has(event.state)) refreshPackages();
      break;
    case 'levels':
      page.levels = event.levels || {};
      page.levelsAt = performance.now();
      page.levelsFromEvents = true;
      showMeters();
      break;
    case 'alarm':
      page.eventAlarms = page.eventAlarms.filter((a) => a.code !== event.code || a.message !== event.message);
      page.eventAlarms.unshift({ code: event.code, level: event.level, message: event.message, time: event.time });
      page.eventAlarms.length = Math.min(page.eventAlarms.length, 5);
      showAlarms();
      break;
    case 'publishJob':
      refreshPackagesSoon();
      break;
    case 'opencastLink':
      showOpencast(event.link);
      break;
    case 'deviceAdded':
    case 'deviceRemoved':
    case 'deviceChanged':
    case 'resync':
      refreshStatus();
      break;
    default:
      break;
  }
}

let packagesSoon = null;
function refreshPackagesSoon() {
  if (packagesSoon) return;
  packagesSoon = setTimeout(() => {
    packagesSoon = null;
    refreshPackages();
  }, 500);
}

// ---------------------------------------------------------------- capture

function applyCapture(capture) {
  const before = page.capture;
  page.capture = capture;
  page.captureAt = performance.now();
  const state = capture.state;
  $('state').textContent = state;
  $('state').dataset.state = state;
  $('capture-card').dataset.active = ACTIVE.has(state) ? 'yes' : 'no';
  $('session-title').textContent = ACTIVE.has(state) || state === 'processing' ? capture.title || '' : '';
  if (capture.error) showMessage(capture.error);
  showButtons();
  tick();
  if (before.state !== state || before.sessionID !== capture.sessionID) {
    if (!PICTURE.has(state)) clearPreview();
    if (!ACTIVE.has(state)) {
      page.levels = {};
      page.audioDevices = null;
      showMeters();
    }
    if (before.state !== state && (state === 'idle' || state === 'processing')) {
      // The package appears now and is complete once processing ends.
      refreshPackages();
    }
  }
}

function showButtons() {
  const state = page.capture.state;
  const ready = $('template').options.length > 0;
  $('start-fields').disabled = page.busy || ACTIVE.has(state);
  $('start').disabled = page.busy || ACTIVE.has(state) || !ready;
  $('pause').disabled = page.busy || state !== 'capturing';
  $('resume').disabled = page.busy || state !== 'paused';
  $('stop').disabled = page.busy || !['starting', 'capturing', 'paused'].includes(state);
}

function tick() {
  const capture = page.capture;
  const since = performance.now() - page.captureAt;
  const running = capture.state === 'capturing';
  const hasSession = ACTIVE.has(capture.state) || capture.state === 'processing';
  if (hasSession && capture.elapsed != null) {
    $('elapsed').textContent = fmt.duration(capture.elapsed + (running ? since : 0));
  } else {
    $('elapsed').textContent = '0:00';
  }
  // The remaining time counts wall-clock time, pauses included.
  if (ACTIVE.has(capture.state) && capture.remaining != null) {
    $('remaining').textContent = fmt.duration(capture.remaining - since);
  } else {
    $('remaining').textContent = '—';
  }
}

async function loadTemplates() {
  await quietly(async () => {
    const templates = await api.get('/capture/templates');
    const select = $('template');
    const previous = select.value || sessionStorage.getItem('castd.template') || 'lecture';
    select.replaceChildren(
      ...templates.map((t) => {
        const option = document.createElement('option');
        option.value = t.id;
        option.textContent = t.name || t.id;
        return option;
      }),
    );
    if (templates.some((t) => t.id === previous)) select.value = previous;
    showButtons();
  });
}

$('template').addEventListener('change', () => sessionStorage.setItem('castd.template', $('template').value));

function showMessage(message) {
  showError($('message'), message);
}

/** Runs one capture command; the answer is the new capture status. */
async function command(path, form) {
  page.busy = true;
  showButtons();
  showMessage('');
  try {
    applyCapture(await api.post(path, form));
  } catch (error) {
    showMessage(error.message || 'castd does not answer.');
    refreshCapture();
  } finally {
    page.busy = false;
    showButtons();
  }
}

$('start-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const request = { templateID: $('template').value };
  const title = $('title').value.trim();
  if (title) request.title = title;
  const minutes = Number($('duration').value);
  if (minutes > 0) request.duration = minutes * 60000;
  command('/capture/start', { captureRequest: request });
});
$('pause').addEventListener('click', () => command('/capture/pause'));
$('resume').addEventListener('click', () => command('/capture/resume'));
$('stop').addEventListener('click', () => command('/capture/stop'));

// ---------------------------------------------------------------- picture and meters

/** The session's picture, fetched with the credentials and shown from a blob URL. */
async function refreshPreview() {
  if (!PICTURE.has(page.capture.state) || page.previewBusy || document.hidden) return;
  page.previewBusy = true;
  try {
    const response = await api.fetchApi('/liveStreamViewer/session');
    const blob = await response.blob();
    // The session may have ended while the picture was on its way.
    if (!PICTURE.has(page.capture.state)) return;
    const old = page.previewURL;
    page.previewURL = URL.createObjectURL(blob);
    $('preview').src = page.previewURL;
    $('preview-frame').dataset.showing = 'yes';
    if (old) setTimeout(() => URL.revokeObjectURL(old), 2000);
  } catch (error) {
    $('preview-note').textContent = error.code === 'preview.no_session' ? 'No picture yet' : 'No picture';
  } finally {
    page.previewBusy = false;
  }
}

function clearPreview() {
  $('preview-frame').dataset.showing = 'no';
  $('preview-note').textContent = 'No recording';
  $('preview').removeAttribute('src');
  if (page.previewURL) URL.revokeObjectURL(page.previewURL);
  page.previewURL = null;
}

/** Without `levels` events, the session's audio devices are asked for their levels. */
async function pollLevels() {
  const capture = page.capture;
  if (!PICTURE.has(capture.state)) return;
  if (page.levelsFromEvents && performance.now() - page.levelsAt < LEVELS_STALE_MS) return;
  await quietly(async () => {
    if (!page.audioDevices || page.audioDevices.sessionID !== capture.sessionID) {
      const nodes = await api.get('/sessionStatus');
      page.audioDevices = {
        sessionID: capture.sessionID,
        devices: nodes.filter((n) => n.type === 'audioDevice' && n.deviceID).map((n) => [n.nodeID, n.deviceID]),
      };
    }
    const levels = {};
    for (const [node, device] of page.audioDevices.devices) {
      levels[node] = await api.get(`/liveStreamViewer/audio/${encodeURIComponent(device)}`);
    }
    if (page.levelsFromEvents && performance.now() - page.levelsAt < LEVELS_STALE_MS) return;
    page.levels = levels;
    showMeters();
  });
}

/** Where a level sits on the meter, in percent of its length. */
function meterShare(db) {
  const level = Number.isFinite(db) ? Math.max(METER_FLOOR_DB, Math.min(0, db)) : METER_FLOOR_DB;
  return (100 * (level - METER_FLOOR_DB)) / -METER_FLOOR_DB;
}

function showMeters() {
  const box = $('meters');
  const rows = [];
  for (const [node, level] of Object.entries(page.levels)) {
    (level.rms || []).forEach((rms, channel) => rows.push({ key: `${node}:${channel}`, node, channel, rms, peak: level.peak[channel], silent: level.silent }));
  }
  const keys = rows.map((r) => r.key).join(',');
  if (box.dataset.keys !== keys) {
    box.dataset.keys = keys;
    box.replaceChildren(
      ...rows.map((r) => {
        const row = document.createElement('div');
        row.className = 'meter';
        row.dataset.key = r.key;
        row.innerHTML = '<span class="meter-name"></span><span class="meter-track"><span class="meter-cover"></span><span class="meter-peak"></span></span>';
        row.querySelector('.meter-name').textContent = rows.filter((o) => o.node === r.node).length > 1 ? `${r.node} ${r.channel + 1}` : r.node;
        return row;
      }),
    );
  }
  box.hidden = rows.length === 0;
  for (const r of rows) {
    const row = box.querySelector(`[data-key="${CSS.escape(r.key)}"]`);
    row.querySelector('.meter-cover').style.width = `${(100 - meterShare(r.rms)).toFixed(1)}%`;
    row.querySelector('.meter-peak').style.left = `${meterShare(r.peak).toFixed(1)}%`;
    row.dataset.silent = r.silent ? 'yes' : 'no';
    row.dataset.hot = r.peak > -1 ? 'yes' : 'no';
    const db = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} dB` : 'silence');
    row.title = `peak ${db(r.peak)}, RMS ${db(r.rms)}`;
  }
}

// ---------------------------------------------------------------- disk, alarms, lists

function showDisk(disk) {
  const used = disk.total > 0 ? 1 - disk.usable / disk.total : 0;
  $('disk-bar').style.width = `${(used * 100).toFixed(1)}%`;
  $('disk-card').dataset.low = disk.minutesLeft < 60 ? 'yes' : 'no';
  $('disk-text').textContent = `${fmt.bytes(disk.usable)} usable of ${fmt.bytes(disk.total)}: about ${fmt.minutes(disk.minutesLeft)} of recording`;
}

function showAlarms() {
  const list = $('alarms');
  const all = [...page.statusAlarms, ...page.eventAlarms];
  list.replaceChildren(
    ...all.map((alarm) => {
      const item = document.createElement('li');
      item.dataset.level = alarm.level;
      const text = document.createElement('span');
      text.textContent = alarm.message || alarm.code;
      item.append(text);
      if (alarm.time) {
        const when = document.createElement('span');
        when.className = 'muted';
        when.textContent = fmt.clock(alarm.time, page.timeZone);
        const dismiss = document.createElement('button');
        dismiss.className = 'quiet dismiss';
        dismiss.textContent = '✕';
        dismiss.setAttribute('aria-label', 'Dismiss');
        dismiss.addEventListener('click', () => {
          page.eventAlarms = page.eventAlarms.filter((a) => a !== alarm);
          showAlarms();
        });
        item.append(when, dismiss);
      }
      return item;
    }),
  );
  $('alarms-card').dataset.count = String(all.length);
  $('alarms-empty').hidden = all.length > 0;
}

async function refreshSchedule() {
  await quietly(async () => {
    const events = await api.get('/status/schedule');
    const now = Date.now();
    $('schedule').replaceChildren(
      ...events.map((e) => {
        const item = document.createElement('li');
        item.dataset.now = e.startTime <= now && now < e.stopTime ? 'yes' : 'no';
        const when = document.createElement('span');
        when.className = 'when';
        when.textContent = `${fmt.clock(e.startTime, page.timeZone)}–${fmt.clock(e.stopTime, page.timeZone)}`;
        const title = document.createElement('span');
        title.className = 'grow';
        title.textContent = e.title || e.id;
        const outcome = document.createElement('span');
        outcome.className = 'badge';
        outcome.dataset.state = e.outcome || 'pending';
        outcome.textContent = e.outcome || 'pending';
        item.append(when, title);
        if (e.opencast) {
          const source = document.createElement('span');
          source.className = 'badge source';
          source.textContent = 'Opencast';
          source.title = 'Scheduled in Opencast: change it there';
          item.append(source);
        }
        item.append(outcome);
        return item;
      }),
    );
    $('schedule-empty').hidden = events.length > 0;
  });
}

async function refreshPackages() {
  await quietly(async () => {
    const [packages, jobs] = await Promise.all([
      api.get('/capture/mediaPackages?limit=10'),
      api.get('/capture/publishing/jobs?limit=100').catch(() => []),
    ]);
    const jobsByPackage = new Map();
    for (const job of jobs) {
      if (!jobsByPackage.has(job.mediaPackageID)) jobsByPackage.set(job.mediaPackageID, []);
      jobsByPackage.get(job.mediaPackageID).push(job);
    }
    $('packages').replaceChildren(...packages.map((p) => packageItem(p, jobsByPackage.get(p.id) || [])));
    $('packages-empty').hidden = packages.length > 0;
  });
}

function packageItem(p, jobs) {
  const item = document.createElement('li');
  item.dataset.id = p.id;
  const head = document.createElement('div');
  head.className = 'row';
  const title = document.createElement('span');
  title.className = 'grow package-title';
  title.textContent = p.title || p.id;
  const state = document.createElement('span');
  state.className = 'badge';
  state.dataset.state = p.state;
  state.textContent = p.state;
  head.append(title, state);
  const facts = document.createElement('div');
  facts.className = 'muted';
  facts.textContent = `${fmt.dateTime(p.creationDate, page.timeZone)} · ${fmt.duration(p.duration || 0)}`;
  const publishing = document.createElement('div');
  publishing.className = 'publishing';
  if (jobs.length === 0) {
    publishing.textContent = 'not published';
    publishing.classList.add('muted');
  }
  for (const job of jobs) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.state = job.state;
    let text = `${job.publisherID}: ${job.state}`;
    if (job.state === 'running' && job.progress && job.progress.total > 0) {
      text += ` ${Math.floor((100 * job.progress.done) / job.progress.total)}%`;
    }
    badge.textContent = text;
    if (job.lastError) badge.title = job.lastError;
    publishing.append(badge);
  }
  item.append(head, facts, publishing);
  return item;
}

// ---------------------------------------------------------------- start

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && !$('app-view').hidden) refreshAll();
});

if (api.session()) showApp();
else showLogin();

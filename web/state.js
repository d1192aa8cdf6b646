// How a camera's state is shown: one place turns the server's state (and reason) into
// the badge, the data-* attributes and the overlay text, for tiles and the single view alike.

// How a server stream state (docs/protocol.md) is shown: badge label, colour
// class, detail after the label, and whether the picture counts as current.
// The label is the API's state by name, so that the badge, the stream line and
// GET /api/v1/streams all say the same thing; the detail is its reason. An idle
// camera that the server's health check found unreachable says so, with why.
export function describeState(state, reason, health) {
  const r = reason || '';
  switch (state) {
    case 'live': return { label: 'live', cls: 'st-live', detail: '', current: true };
    case 'connecting':
      return { label: 'connecting', cls: r ? 'st-reconnecting' : 'st-connecting', detail: r, current: false };
    case 'stalled':
    case 'backoff': return { label: state, cls: 'st-reconnecting', detail: r, current: false };
    case 'fallback': return { label: 'fallback', cls: 'st-fallback', detail: 'snapshots', current: true };
    case 'failed': return { label: 'failed', cls: 'st-failed', detail: r, current: false };
    case 'idle':
      if (health && health.reachable === false) {
        return { label: 'unreachable', cls: 'st-failed', detail: health.reason || r, current: false };
      }
      return { label: 'idle', cls: 'st-idle', detail: r, current: false };
    default: return { label: state || 'unknown', cls: 'st-idle', detail: r, current: false };
  }
}

// Long, human text for a state (overlay when there is no picture, tooltips).
export function stateSentence(state, reason, health) {
  const r = reason ? ` (${reason})` : '';
  if (state === 'idle' && health && health.reachable === false) {
    return `idle, camera unreachable${health.reason ? ` (${health.reason})` : r}`;
  }
  switch (state) {
    case 'live': return 'live';
    case 'connecting': return reason ? `reconnecting…${r}` : 'connecting…';
    case 'stalled': return `stream stalled, reconnecting…${r}`;
    case 'backoff': return `camera down, retrying…${r}`;
    case 'fallback': return `video down, showing snapshots${r}`;
    case 'failed': return `camera failed${r}`;
    case 'idle': return 'idle';
    default: return `${state || 'unknown'}${r}`;
  }
}

export function setStateBadge(badge, b) {
  if (badge.textContent !== b.text) badge.textContent = b.text;
  const cls = `state ${b.cls}`;
  if (badge.className !== cls) badge.className = cls;
  badge.title = b.title || b.text;
}

// data-state/data-reason (server view) and data-conn (viewer socket) for
// styling and tests.
export function setStateData(node, s, conn) {
  if (node.dataset.state !== s.state) node.dataset.state = s.state;
  if (node.dataset.reason !== s.reason) node.dataset.reason = s.reason;
  if (conn !== undefined && node.dataset.conn !== conn) node.dataset.conn = conn;
  node.classList.toggle('dim', !!s.dim);
}

export function setOverlay(ov, text) {
  if (ov.textContent !== text) ov.textContent = text;
  ov.hidden = !text;
}

// The one place a state is put on the page: the badge, and data-state/data-reason/data-conn
// with the dimming on each node. Tiles and the single view's card both call this with
// Viewer.status(), so they cannot show the same camera differently.
export function renderState(badge, nodes, s, conn) {
  setStateBadge(badge, s.badge);
  for (const n of nodes) setStateData(n, s, conn);
}

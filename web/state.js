// How a camera's state is shown: one place turns the server's state (and reason) into
// the badge, the data-* attributes and the overlay text, for tiles and the single view alike.

// How a server stream state (docs/protocol.md) is shown: badge label, colour
// class, detail after the label, and whether the picture counts as current.
// A "connecting" that carries a reason is a retry after a failure, shown as
// reconnecting so the badge does not flicker blue on every attempt.
export function describeState(state, reason) {
  const r = reason || '';
  switch (state) {
    case 'live': return { label: 'live', cls: 'st-live', detail: '', current: true };
    case 'connecting':
      return r ? { label: 'reconnecting', cls: 'st-reconnecting', detail: r, current: false }
        : { label: 'connecting', cls: 'st-connecting', detail: '', current: false };
    case 'stalled':
    case 'backoff': return { label: 'reconnecting', cls: 'st-reconnecting', detail: r, current: false };
    case 'fallback': return { label: 'fallback', cls: 'st-fallback', detail: 'snapshots', current: true };
    case 'failed': return { label: 'failed', cls: 'st-failed', detail: r, current: false };
    case 'idle': return { label: 'idle', cls: 'st-idle', detail: '', current: false };
    default: return { label: state || 'unknown', cls: 'st-idle', detail: r, current: false };
  }
}

// Long, human text for a state (overlay when there is no picture, tooltips).
export function stateSentence(state, reason) {
  const r = reason ? ` (${reason})` : '';
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

// The sign-in page: POST /api/v1/login with JSON, then back to the dashboard. The server
// sets the HttpOnly session cookie; this page never sees it.
const form = document.getElementById('login-form');
const msg = document.getElementById('login-msg');
const submit = document.getElementById('login-submit');

function show(text) {
  msg.textContent = text;
  msg.hidden = !text;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  show('');
  submit.disabled = true;
  try {
    const r = await fetch(new URL('api/v1/login', location.href), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        user: document.getElementById('login-user').value.trim(),
        password: document.getElementById('login-password').value,
      }),
      cache: 'no-store',
    });
    if (r.ok) {
      location.replace(new URL('./', location.href));
      return;
    }
    if (r.status === 401) show('Wrong user name or password.');
    else if (r.status === 429) show(`Too many attempts: try again in ${r.headers.get('Retry-After') || 'a few'} seconds.`);
    else show(`Sign-in failed (HTTP ${r.status}).`);
  } catch (e) {
    show(`Cannot reach vigil (${e.message}).`);
  } finally {
    submit.disabled = false;
  }
});

// Already signed in (a bookmark to this page): go straight to the cameras.
fetch(new URL('api/v1/session', location.href), { cache: 'no-store' })
  .then((r) => { if (r.ok) location.replace(new URL('./', location.href)); })
  .catch(() => {});

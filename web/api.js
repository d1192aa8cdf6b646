// The server's HTTP API as the dashboard uses it: where its URLs are, and what to do
// when there is no session.

// Off to the sign-in page (the session ended, or there was none).
export function signIn() {
  location.replace(new URL('login.html', location.href));
}

// The dev IdP's own pages: plain HTML, inline CSS, nothing fetched from elsewhere.

const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --ink: #1d2430; --muted: #5a6473; --line: #c9d0da; --accent: #1f5fae; --bad: #a4161a; }
  body { font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: #f4f6f9; margin: 0; }
  main { max-width: 22rem; margin: 4rem auto; padding: 2rem; background: #fff;
         border: 1px solid var(--line); border-radius: 8px; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  p { color: var(--muted); margin: 0 0 1rem; }
  label { display: block; font-weight: 600; margin-top: 1rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit;
          border: 1px solid var(--line); border-radius: 4px; }
  button { margin-top: 1.5rem; width: 100%; padding: .6rem; font: inherit; font-weight: 600;
           color: #fff; background: var(--accent); border: 0; border-radius: 4px; cursor: pointer; }
  input:focus, button:focus { outline: 3px solid #8db4e8; outline-offset: 1px; }
  .error { color: var(--bad); font-weight: 600; }
</style></head>
<body><main>${body}</main></body></html>`;
}

export function loginPage({ displayName, clientName, action, login = '', error = '' }) {
  // After a wrong password the username is kept and the cursor waits in the password field.
  const focusLogin = login ? '' : ' autofocus';
  const focusPassword = login ? ' autofocus' : '';
  return page(`Sign in – ${displayName}`, `
  <h1>${escapeHtml(displayName)}</h1>
  <p>Sign in to continue to ${escapeHtml(clientName)}.</p>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <form method="post" action="${escapeHtml(action)}">
    <label for="login">Username</label>
    <input id="login" name="login" autocomplete="username" value="${escapeHtml(login)}" required${focusLogin}>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required${focusPassword}>
    <button type="submit">Sign in</button>
  </form>`);
}

// `form` is oidc-provider's hidden confirmation form; it submits itself, the button is for no-JS.
export function logoutPage({ displayName, form }) {
  return page(`Sign out – ${displayName}`, `
  <h1>${escapeHtml(displayName)}</h1>
  <p>Signing you out…</p>
  ${form}
  <button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
  <script>document.querySelector('button[name=logout]').click();</script>`);
}

export function signedOutPage({ displayName }) {
  return page('Signed out', `<h1>${escapeHtml(displayName)}</h1><p>You are signed out.</p>`);
}

export function errorPage({ displayName, message }) {
  return page(`Error – ${displayName}`, `
  <h1>${escapeHtml(displayName)}</h1>
  <p class="error" role="alert">${escapeHtml(message)}</p>
  <p>Go back to the application and sign in again.</p>`);
}

// Signing in: an API key typed into a form and posted (never put in a URL); see ../session.ts.
import type { FC } from 'hono/jsx';

export const LoginForm: FC<{ error?: string }> = ({ error }) => (
  <form class="login" method="post" action="/dashboard/login">
    {error && (
      <p role="alert" class="error">
        {error}
      </p>
    )}
    <p>Sign in with an API key of an admin or a user (`autovibe keys create`).</p>
    <label>
      API key
      <input type="password" name="key" required autocomplete="off" spellcheck={false} />
    </label>
    <p>
      <button type="submit">Sign in</button>
    </p>
  </form>
);

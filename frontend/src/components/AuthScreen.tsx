// Sign in and sign up.

import { useState, type FormEvent } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { authClient, session } from "../api";
import { storedSession } from "../lib/session";
import { accountFormField, formErrors, type FormErrors } from "../lib/fieldErrors";
import { Field } from "./Field";

export function AuthScreen({ reason }: { reason?: string }) {
  const [mode, setMode] = useState<"signIn" | "signUp">("signIn");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [errors, setErrors] = useState<FormErrors>({ fields: {} });
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({ fields: {} });
    try {
      if (mode === "signUp") {
        const response = await authClient.signUp({ email, password, displayName });
        session.signedIn(storedSession(response.user, response.tokens));
      } else {
        const response = await authClient.signIn({ email, password });
        session.signedIn(storedSession(response.user, response.tokens));
      }
    } catch (error) {
      const code = ConnectError.from(error).code;
      if (mode === "signIn" && code === Code.Unauthenticated) {
        setErrors({ fields: {}, general: "The email or the password is wrong." });
      } else if (mode === "signUp" && code === Code.AlreadyExists) {
        setErrors({ fields: { email: "An account with this email already exists. Sign in instead." } });
      } else {
        setErrors(formErrors(error, accountFormField));
      }
    } finally {
      setBusy(false);
    }
  };

  const signingUp = mode === "signUp";
  return (
    <main className="auth">
      <h1>Todo Suite</h1>
      {reason === "expired" && <p className="notice">Your session has ended. Sign in again.</p>}
      <div className="tabs" role="tablist" aria-label="Account">
        <button type="button" role="tab" aria-selected={!signingUp} onClick={() => setMode("signIn")}>
          Sign in
        </button>
        <button type="button" role="tab" aria-selected={signingUp} onClick={() => setMode("signUp")}>
          Create account
        </button>
      </div>
      <form onSubmit={submit} noValidate aria-label={signingUp ? "Create account" : "Sign in"}>
        {signingUp && (
          <Field label="Name" error={errors.fields.display_name}>
            <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="name" />
          </Field>
        )}
        <Field label="Email" error={errors.fields.email}>
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />
        </Field>
        <Field
          label="Password"
          error={errors.fields.password}
          hint={signingUp ? "At least 10 characters." : undefined}
        >
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={signingUp ? "new-password" : "current-password"}
          />
        </Field>
        {errors.general && (
          <p className="form-error" role="alert">
            {errors.general}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {signingUp ? "Create account" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

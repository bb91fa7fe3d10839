// iamd console: WebAuthn ceremonies (register, second factor, passkey-first with conditional UI).
// No framework, no build step. Options come from the server as WebAuthn JSON (base64url fields).
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function b64urlToBuf(s) {
    const pad = "=".repeat((4 - (s.length % 4)) % 4);
    const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    const o = JSON.parse(json);
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    o.excludeCredentials = (o.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) }));
    o.extensions = { ...(o.extensions || {}), credProps: true };
    return o;
  }

  function requestOptions(json) {
    const o = JSON.parse(json);
    o.challenge = b64urlToBuf(o.challenge);
    o.allowCredentials = (o.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBuf(c.id) }));
    return o;
  }

  function credentialJSON(cred) {
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  async function post(path, body, signal) {
    const res = await fetch(path, {
      method: "POST",
      signal,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { data = {}; }
    if (!res.ok) throw new Error(data.error || "The request failed (" + res.status + ").");
    return data;
  }

  function showError(message) {
    const el = document.getElementById("error");
    el.textContent = message;
    el.hidden = false;
    el.setAttribute("tabindex", "-1");
    el.focus();
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") return "The request was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This security key or passkey is already registered.";
    return (err && err.message) || "Something went wrong.";
  }

  let conditional = null; // AbortController of a pending conditional-UI request

  async function authenticate(mediation) {
    const controller = mediation === "conditional" ? new AbortController() : null;
    if (controller) conditional = controller;
    const begin = await post("/console/webauthn/authenticate/options", undefined, controller ? controller.signal : undefined);
    if (begin.redirect) { window.location.assign(begin.redirect); return; }
    const publicKey = requestOptions(begin.publicKey);
    const options = { publicKey };
    if (controller) {
      options.mediation = "conditional";
      options.signal = controller.signal;
    }
    const cred = await navigator.credentials.get(options);
    const done = await post("/console/webauthn/authenticate/verify", { credential: credentialJSON(cred) });
    window.location.assign(done.redirect);
  }

  async function register(form) {
    const name = form.querySelector('[name="name"]').value;
    const begin = await post("/console/webauthn/register/options", { name });
    const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) });
    const done = await post("/console/webauthn/register/verify", { name, credential: credentialJSON(cred) });
    window.location.assign(done.redirect);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const supported = !!window.PublicKeyCredential;
    document.querySelectorAll("[data-webauthn]").forEach((el) => {
      if (!supported) { el.hidden = true; return; }
      const kind = el.dataset.webauthn;
      if (kind === "register") {
        el.addEventListener("submit", (ev) => {
          ev.preventDefault();
          register(el).catch((err) => showError(explain(err)));
        });
      } else {
        el.addEventListener("click", () => {
          if (conditional) { conditional.abort(); conditional = null; }
          authenticate("required").catch((err) => showError(explain(err)));
        });
      }
    });
    const username = document.querySelector('input[autocomplete~="webauthn"]');
    // autofill (conditional UI) only where the page offers passkeys at all
    if (supported && username && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (ok && !conditional) {
          authenticate("conditional").catch((err) => {
            if (err && err.name !== "AbortError") showError(explain(err));
          });
        }
      });
    }
  });
})();

// Administration pages: copy buttons, and the policy editor (line numbers, validation as you
// type through iamd's validator, the lines the simulator says decided).
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("button[data-copy]").forEach((button) => {
      button.addEventListener("click", () => {
        const source = document.getElementById(button.dataset.copy);
        if (!source || !navigator.clipboard) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(() => {
          button.textContent = "Copied";
        });
      });
    });

    const box = document.querySelector(".editor");
    if (!box) return;
    const text = box.querySelector("textarea");
    const gutter = box.querySelector(".gutter");
    const status = document.getElementById("validation");
    const hits = new Set((box.dataset.hits || "").split(",").filter(Boolean).map(Number));
    let bad = 0;

    function numbers() {
      const count = text.value.split("\n").length;
      const parts = [];
      for (let i = 1; i <= count; i++) {
        const cls = i === bad ? "bad" : hits.has(i) ? "hit" : "";
        parts.push('<span class="' + cls + '">' + i + "</span>");
      }
      gutter.innerHTML = parts.join("");
      gutter.scrollTop = text.scrollTop;
    }

    let timer = null;
    let sequence = 0;
    function validate() {
      const mine = ++sequence;
      fetch("/console/policy/validate", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ document: text.value, kind: box.dataset.kind }),
      })
        .then((r) => r.json())
        .then((result) => {
          if (mine !== sequence) return;
          if (result.ok) {
            bad = 0;
            status.className = "allow";
            status.textContent = "The policy is valid.";
          } else if (result.message) {
            bad = result.line || 0;
            status.className = "deny";
            const where = result.line ? "Line " + result.line + ", column " + result.column + ": " : "";
            status.textContent = where + result.message;
          }
          numbers();
        })
        .catch(() => {});
    }

    text.addEventListener("input", () => {
      hits.clear();
      numbers();
      clearTimeout(timer);
      timer = setTimeout(validate, 300);
    });
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
    text.addEventListener("keydown", (event) => {
      // Tab indents; Escape then Tab leaves the editor (keyboard users are never trapped)
      if (event.key === "Escape") { text.dataset.escaped = "1"; return; }
      if (event.key === "Tab" && !event.shiftKey && text.dataset.escaped !== "1") {
        event.preventDefault();
        const start = text.selectionStart;
        text.setRangeText("  ", start, text.selectionEnd, "end");
        text.dispatchEvent(new Event("input"));
      }
      if (event.key !== "Tab") delete text.dataset.escaped;
    });
    text.addEventListener("blur", () => { delete text.dataset.escaped; });
    numbers();
    validate();
  });
})();

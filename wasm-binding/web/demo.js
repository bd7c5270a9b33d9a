// The demo page: pick a project and a user, and watch the lease as the shared worker reports it.
//
// The page judges nothing: every state and countdown it shows is a message of the worker, whose
// numbers come from the Rust core's prediction. Query parameters prefill the form
// (`?project=apollo&user=bob&interval=5`). The messages received are kept, with the local time
// they arrived, in `window.leasekitDemo.events`, for the end-to-end test and for the curious.

import { LeaseClient, browserSessionId } from "./lease-client.js";

/**
 * @typedef {import("./protocol").WorkerMessage} WorkerMessage
 * @typedef {import("./protocol").LeaseStateMessage} LeaseStateMessage
 * @typedef {import("./protocol").CountdownMessage} CountdownMessage
 * @typedef {import("./protocol").ErrorMessage} ErrorMessage
 * @typedef {WorkerMessage & { receivedAt: number }} ReceivedMessage
 */

const LOG_LIMIT = 50;

/** @param {string} id */
function element(id) {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`the page has no #${id}`);
  }
  return found;
}

/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (element(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ (element(id));

const form = {
  project: input("project"),
  user: input("user"),
  interval: input("interval"),
  acquire: button("acquire"),
  takeover: button("takeover"),
  release: button("release"),
};
const view = {
  lease: element("lease"),
  state: element("state"),
  connection: element("connection"),
  holder: element("holder"),
  fence: element("fence"),
  expires: element("expires"),
  countdownLabel: element("countdown-label"),
  countdown: element("countdown"),
  detail: element("detail"),
  log: element("log"),
};

const sessionId = browserSessionId();
/** @type {{ events: ReceivedMessage[], sessionId: string }} */
const demo = { events: [], sessionId };
Object.assign(globalThis, { leasekitDemo: demo });

const client = new LeaseClient();
/** The settings the worker was last started with (JSON), to tell a restart from a retry. */
/** @type {string | null} */
let startedWith = null;
/** @type {string | null} */
let startedProject = null;
/** @type {LeaseStateMessage | null} */
let current = null;

prefill(new URLSearchParams(location.search));
element("session").textContent = sessionId;

client.onmessage = (message) => {
  demo.events.push({ ...message, receivedAt: Date.now() });
  if (message.type === "countdown") {
    showCountdown(message);
  } else if (message.type === "error") {
    showError(message);
  } else if (message.type !== "ping") {
    current = message;
    showState(message);
  }
};

element("settings").addEventListener("submit", (event) => {
  event.preventDefault();
  const options = {
    projectId: form.project.value.trim(),
    user: form.user.value.trim(),
    intervalS: Number(form.interval.value),
    sessionId,
  };
  const signature = JSON.stringify(options);
  if (signature === startedWith) {
    client.acquire();
    return;
  }

  startedWith = signature;
  startedProject = options.projectId;
  current = null;
  setState("acquiring", "acquiring…");
  client.start(options);
});

form.takeover.addEventListener("click", () => {
  // Our other session needs only `takeover`; another user's lease needs `force` (admins; in
  // development mode every user is one).
  client.acquire({ takeover: true, force: !isSameOwner() });
});

form.release.addEventListener("click", () => client.release());

/** @param {URLSearchParams} params */
function prefill(params) {
  form.project.value = params.get("project") ?? form.project.value;
  form.user.value = params.get("user") ?? form.user.value;
  form.interval.value = params.get("interval") ?? form.interval.value;
}

function isSameOwner() {
  if (current?.type === "busy") {
    return current.sameOwner === true;
  }
  return current?.type === "lost" && current.holder?.owner === current.grant.owner;
}

/** @param {LeaseStateMessage} message */
function showState(message) {
  const { label, holder, fence, expires, detail } = describe(message);
  setState(message.type, label);
  view.holder.textContent = holder;
  view.fence.textContent = fence === null ? "–" : String(fence);
  view.expires.textContent = expires === null ? "–" : new Date(expires).toISOString();
  view.detail.textContent = detail;

  const over = message.type === "lost" || message.type === "released";
  if (over || (message.type === "expired" && message.confirmed)) {
    setCountdown("Countdown", null);
  }
  const ours = message.type === "held" || message.type === "in_doubt";
  const predictedExpiry = message.type === "expired" && !message.confirmed;
  form.release.disabled = !(ours || predictedExpiry);
  form.takeover.disabled = !["busy", "lost", "expired"].includes(message.type);
  log(message.type, detail);
}

/**
 * What to show for a state message.
 *
 * @param {LeaseStateMessage} message
 * @returns {{ label: string, holder: string, fence: number | null, expires: number | null,
 *   detail: string }}
 */
function describe(message) {
  switch (message.type) {
    case "held": {
      const { grant } = message;
      const previous = grant.previous;
      const detail = previous === null
        ? `Granted to session ${grant.session_id}.`
        : `Took over from ${previous.owner} (fence ${previous.fence}, ${previous.ended}).`;
      const beat = `Heartbeat accepted at ${new Date(grant.heartbeat_at).toISOString()}.`;
      return { label: "held", ...yours(grant), detail: message.via === "acquire" ? detail : beat };
    }
    case "in_doubt":
      return {
        label: "in doubt",
        ...yours(message.grant),
        detail: "No answer from the service: it may already judge this lease stale.",
      };
    case "expired":
      return {
        label: message.confirmed ? "expired" : "expired (predicted)",
        ...yours(message.grant),
        detail: message.confirmed
          ? "The service ended this lease; acquire again to edit."
          : "Out of reach too long: the service certainly judges this lease stale. Still asking.",
      };
    case "busy": {
      const { holder } = message;
      const since = new Date(holder.acquired_at).toISOString();
      const whose = message.sameOwner === true ? " (your other session)" : "";
      return {
        label: "busy",
        holder: `${holder.owner}${whose}`,
        fence: holder.fence,
        expires: holder.expires_at,
        detail: `Held by ${holder.owner} since ${since}. The worker acquires it once free.`,
      };
    }
    case "lost": {
      const now = message.holder?.held ? message.holder : null;
      return {
        label: "lost",
        holder: now === null ? "nobody" : now.owner,
        fence: now === null ? message.grant.fence : now.fence,
        expires: now === null ? null : now.expires_at,
        detail: now === null
          ? "The lease was released or ended elsewhere. Heartbeats stopped."
          : `${now.owner} holds the project now (fence ${now.fence}). Heartbeats stopped.`,
      };
    }
    case "released":
      return {
        label: "released",
        holder: "nobody",
        fence: message.fence,
        expires: null,
        detail: message.released ? "Released." : `Not released (${message.reason ?? "not held"}).`,
      };
  }
}

/** @param {import("./protocol").PublicGrant} grant */
function yours(grant) {
  return { holder: `${grant.owner} (this browser)`, fence: grant.fence, expires: grant.expires_at };
}

/** @param {CountdownMessage} message */
function showCountdown(message) {
  if (message.projectId !== startedProject) {
    return;
  }
  view.connection.dataset.online = String(message.online);

  const { state, holder_stale_in_ms: staleIn, takeover_in_ms: takeoverIn } = message.prediction;
  if (message.role === "waiter") {
    setCountdown("May take over in", takeoverIn);
  } else if (state === "held" || state === "due") {
    setCountdown("Stale in", staleIn);
  } else {
    setCountdown("Surely stale in", takeoverIn);
  }
}

/** @param {ErrorMessage} message */
function showError(message) {
  const where = message.field === null ? "" : ` (${message.field})`;
  const detail = `${message.code}${where}: ${message.message}`;
  if (message.code === "unreachable") {
    view.connection.dataset.online = "false";
  }
  if (message.fatal) {
    setState("error", "error");
    view.detail.textContent = detail;
  }
  log("error", detail);
}

/**
 * @param {string} state
 * @param {string} label
 */
function setState(state, label) {
  view.lease.dataset.state = state;
  view.state.textContent = label;
}

/**
 * @param {string} label
 * @param {number | null} milliseconds
 */
function setCountdown(label, milliseconds) {
  view.countdownLabel.textContent = label;
  const seconds = milliseconds === null ? "–" : `${(milliseconds / 1000).toFixed(1)} s`;
  view.countdown.textContent = seconds;
  view.countdown.dataset.ms = milliseconds === null ? "" : String(milliseconds);
}

/**
 * @param {string} type
 * @param {string} detail
 */
function log(type, detail) {
  const entry = document.createElement("li");
  const time = new Date().toISOString().slice(11, 23);
  entry.textContent = `${time} ${type}${detail === "" ? "" : ` – ${detail}`}`;
  view.log.prepend(entry);
  while (view.log.childElementCount > LOG_LIMIT) {
    view.log.lastElementChild?.remove();
  }
}

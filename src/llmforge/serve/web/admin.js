// Admin: the audit chain's state, users, API keys (a new key's secret shown once) and usage per
// key and per user.
import { call } from "./api.js";
import { append, byId, clear, confirmButton, el, show, textEl } from "./dom.js";
import { t } from "./i18n.js";

export function setUpAdmin() {
  byId("audit-verify").addEventListener("click", () => verifyAudit().catch(report));
  byId("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    addUser().catch(report);
  });
  byId("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createKey().catch(report);
  });
}

export async function loadAdmin() {
  show(byId("key-secret"), false);
  await Promise.all([loadRoles(), verifyAudit(), loadUsers(), loadKeys(), loadUsage("key"), loadUsage("user")]);
}

function report(error) {
  byId("audit-state").textContent = t("error", { message: error.message });
}

async function loadRoles() {
  const { roles } = await call("GET", "/v1/roles");
  for (const select of document.querySelectorAll("select.roles")) {
    const chosen = select.value;
    clear(select);
    for (const role of roles) select.append(textEl("option", role.name, { value: role.name }));
    select.value = chosen || "analyst";
  }
}

async function verifyAudit() {
  const result = await call("GET", "/v1/audit/verify");
  const line = byId("audit-state");
  line.textContent = result.ok ? t("audit_ok", { count: result.count })
    : t("audit_bad", { seq: result.first_bad_seq, reason: result.reason });
  line.classList.toggle("error", !result.ok);
}

async function loadUsers() {
  const { users } = await call("GET", "/v1/users");
  const body = clear(byId("users-table").tBodies[0]);
  for (const user of users) {
    const toggle = el("button", { type: "button" }, user.disabled ? t("enable") : t("disable"));
    toggle.addEventListener("click", async () => {
      await call("PATCH", `/v1/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled }).catch(report);
      await loadUsers();
    });
    body.append(append(el("tr"), textEl("td", user.name), el("td", {}, user.role),
      el("td", {}, user.disabled ? t("disabled") : t("active")), el("td", {}, toggle)));
  }
}

async function addUser() {
  const name = byId("user-name").value.trim(), password = byId("user-password").value;
  await call("POST", "/v1/users", { name, role: byId("user-role").value, password });
  byId("user-form").reset();
  await loadUsers();
}

async function loadKeys() {
  const { keys } = await call("GET", "/v1/keys");
  const body = clear(byId("keys-table").tBodies[0]);
  for (const key of keys) {
    const status = key.revoked ? t("revoked") : key.expires && new Date(key.expires) < new Date() ? t("expired") : t("active");
    const revoke = key.revoked ? "" : confirmButton(t("revoke"), t("confirm_revoke"), t("cancel"), async () => {
      await call("POST", `/v1/keys/${encodeURIComponent(key.id)}/revoke`).catch(report);
      await loadKeys();
    });
    body.append(append(el("tr"), el("td", {}, el("code", {}, key.prefix)), textEl("td", key.name), textEl("td", key.owner),
      el("td", {}, key.role), el("td", {}, key.expires ? String(key.expires).slice(0, 10) : t("never")),
      el("td", {}, status), el("td", {}, revoke)));
  }
}

async function createKey() {
  const days = Number(byId("key-days").value);
  const created = await call("POST", "/v1/keys", {
    name: byId("key-name").value.trim(), role: byId("key-role").value,
    owner: byId("key-owner").value.trim() || undefined, expires_days: days > 0 ? days : undefined,
  });
  byId("key-form").reset();
  byId("key-secret-value").textContent = created.key;   // in this response only, never again
  show(byId("key-secret"), true);
  await loadKeys();
}

async function loadUsage(by) {
  const { rows } = await call("GET", `/v1/usage?by=${by}`);
  const table = clear(byId(`usage-${by}`));
  const columns = [["requests", "requests"], ["prompt_tokens", "prompt_tokens"],
                   ["completion_tokens", "completion_tokens"], ["avg_latency_ms", "avg_latency"], ["errors", "errors"]];
  table.append(el("thead", {}, append(el("tr"), el("th", {}, by === "key" ? t("key_prefix") : t("user_name")),
    ...columns.map(([, label]) => el("th", {}, t(label))))));
  const body = el("tbody");
  for (const row of rows) {
    body.append(append(el("tr"), textEl("td", row[by] ?? t("nobody")),
      ...columns.map(([name]) => el("td", {}, String(row[name] ?? "")))));
  }
  table.append(body);
}

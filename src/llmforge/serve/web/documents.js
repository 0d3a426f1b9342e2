// Documents (documents:write): the list with how each was read, uploads followed to the end of
// their job, and deletion after a second press.
import { call } from "./api.js";
import { append, byId, clear, confirmButton, el, textEl } from "./dom.js";
import { t } from "./i18n.js";

const POLL_MS = 1000;
const FINISHED = new Set(["succeeded", "failed", "interrupted", "cancelled"]);

export function setUpDocuments() {
  byId("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    upload().catch((error) => jobLine(null).replaceChildren(t("error", { message: error.message })));
  });
}

export async function loadDocuments() {
  const { documents } = await call("GET", "/v1/documents");
  const body = clear(byId("documents-table").tBodies[0]);
  for (const doc of documents) body.append(documentRow(doc));
}

function documentRow(doc) {
  const name = doc.title || doc.source_path;
  const status = doc.status === "failed" ? `${doc.status}: ${doc.error || ""}` : doc.status;
  const confidence = doc.ocr_confidence === null || doc.ocr_confidence === undefined ? "" : Math.round(doc.ocr_confidence);
  const remove = confirmButton(t("delete"), t("confirm_delete"), t("cancel"), async () => {
    try {
      await call("DELETE", `/v1/documents/${encodeURIComponent(doc.id)}`);
      jobLine(null).replaceChildren(t("deleted", { name }));
    } catch (error) {
      jobLine(null).replaceChildren(t("error", { message: error.message }));
    }
    await loadDocuments();
  });
  return append(el("tr", { dataset: { id: doc.id } }),
    el("td", {}, textEl("span", name), el("br"), textEl("small", doc.source_path)),
    textEl("td", status), el("td", {}, String(doc.page_count ?? "")), el("td", {}, (doc.languages || []).join(", ")),
    el("td", {}, (doc.methods || []).join(", ")), el("td", {}, String(confidence)), el("td", {}, remove));
}

async function upload() {
  const input = byId("upload-files");
  if (!input.files.length) return;
  const form = new FormData();
  for (const file of input.files) form.append("files", file, file.name);
  const button = byId("upload-button");
  button.disabled = true;
  const line = jobLine(null);
  line.textContent = t("uploading");
  try {
    const job = await call("POST", "/v1/documents", form);
    line.dataset.job = job.job;
    input.value = "";
    await follow(job.job, job.files, line);
  } finally {
    button.disabled = false;
  }
}

// Poll the job until it ends; the line says its state, then "done" or the one-line error.
async function follow(jobId, files, line) {
  for (;;) {
    const job = await call("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
    const progress = job.progress ? `${Math.round(job.progress * 100)}%` : "";
    line.textContent = t("job", { files: files.join(", "), state: job.state, progress, message: job.message || "" });
    line.dataset.state = job.state;
    if (FINISHED.has(job.state)) {
      const failures = ((job.result && job.result.ingest && job.result.ingest.files) || []).filter((f) => f.status === "failed");
      for (const failure of failures) {
        const file = String(failure.path || "").split(/[\\/]/).pop();
        line.append(el("br"), textEl("span", t("job_failed_file", { file, reason: failure.reason }), { className: "error" }));
      }
      await loadDocuments();
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// A line in the jobs list (a new one when `jobId` is null).
function jobLine(jobId) {
  const list = byId("jobs");
  const found = jobId && list.querySelector(`li[data-job="${CSS.escape(jobId)}"]`);
  if (found) return found;
  const line = el("li", { dir: "auto", className: "job" });
  list.prepend(line);
  return line;
}

// Ask: the question, the agent, the answer as it streams, then the checked answer with its
// citations (or the refusal and its reason).
import { call, stream } from "./api.js";
import { append, byId, clear, el, show, textEl } from "./dom.js";
import { reasonText, t } from "./i18n.js";
import { openPage } from "./page.js";

export async function loadAgents() {
  const select = byId("ask-agent");
  const { agents } = await call("GET", "/v1/agents");
  const names = ["default", ...agents.map((agent) => agent.name).filter((name) => name !== "default")];
  clear(select);
  for (const name of names) select.append(textEl("option", name, { value: name }));
}

export function setUpAsk() {
  byId("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    ask().catch((error) => showError(error));
  });
  byId("ask-question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) byId("ask-form").requestSubmit();
  });
}

async function ask() {
  const question = byId("ask-question").value.trim();
  if (!question) return;
  const button = byId("ask-button"), status = byId("ask-status"), answer = byId("answer");
  const text = byId("answer-text");
  button.disabled = true;
  reset();
  answer.setAttribute("aria-busy", "true");
  status.textContent = t("searching");
  const started = performance.now();
  let firstToken = null;
  try {
    await stream("/v1/ask", { question, agent: byId("ask-agent").value || undefined, stream: true }, (event) => {
      if (event.type === "delta") {
        if (firstToken === null) {
          firstToken = performance.now() - started;
          status.textContent = t("answering");
        }
        text.append(event.text);   // a text node: the model's words are never markup
      } else if (event.type === "restart") {
        text.textContent = "";
        status.textContent = t("retrying");
      } else if (event.type === "answer") {
        finish(event, started, firstToken);
      } else if (event.type === "error") {
        throw new Error(event.error.message);
      }
    });
  } finally {
    button.disabled = false;
    answer.setAttribute("aria-busy", "false");
  }
}

function reset() {
  byId("answer-text").textContent = "";
  byId("answer-text").dir = "auto";
  byId("answer").classList.remove("is-refused");
  show(byId("answer-refused"), false);
  show(byId("answer-reason"), false);
  show(byId("citations-title"), false);
  clear(byId("citations"));
}

// The checked answer replaces what streamed: the model's reply cleaned, or the refusal.
function finish(result, started, firstToken) {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const first = ((firstToken ?? performance.now() - started) / 1000).toFixed(1);
  byId("ask-status").textContent = t("answered", { seconds, first, model: result.model });
  const text = byId("answer-text");
  text.textContent = result.answer;
  // An answer is in its question's language; "2214" alone has no letter to say which way it reads.
  text.dir = result.language === "ar" ? "rtl" : "auto";
  byId("answer").classList.toggle("is-refused", Boolean(result.refused));
  show(byId("answer-refused"), Boolean(result.refused));
  if (result.refused) {
    const reason = byId("answer-reason");
    reason.textContent = t("reason", { reason: reasonText(result.reason) });
    show(reason, true);
  }
  const list = byId("citations");
  for (const citation of result.citations || []) list.append(citationItem(citation));
  show(byId("citations-title"), list.children.length > 0);
}

export function pagesLabel(start, end) {
  return start === end ? t("page_short", { page: start }) : t("pages_short", { start, end });
}

function citationItem(citation) {
  const open = el("button", { type: "button", className: "citation-open" },
    el("span", { className: "citation-number" }, `[${citation.number}]`), " ",
    textEl("span", citation.title || citation.source_path, { className: "citation-title" }), " · ",
    el("span", { className: "citation-page" }, pagesLabel(citation.page_start, citation.page_end)));
  open.addEventListener("click", () => openPage(citation.document_id, citation.page_start, citation.chunk_id));
  return append(el("li", { className: "citation" }), open, textEl("p", citation.text || "", { className: "snippet" }));
}

function showError(error) {
  const status = byId("ask-status");
  status.textContent = t("error", { message: error.message });
}

// Search: ranked passages with their snippets and citations; each opens its page.
import { call } from "./api.js";
import { append, byId, clear, el, textEl } from "./dom.js";
import { t } from "./i18n.js";
import { pagesLabel } from "./ask.js";
import { openPage } from "./page.js";

export function setUpSearch() {
  byId("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search().catch((error) => { byId("search-status").textContent = t("error", { message: error.message }); });
  });
}

async function search() {
  const query = byId("search-query").value.trim();
  if (!query) return;
  const list = clear(byId("search-results"));
  const k = Number(byId("search-k").value) || undefined;
  const result = await call("POST", "/v1/search", { query, mode: byId("search-mode").value, k });
  byId("search-status").textContent = result.hits.length
    ? t("found", { count: result.hits.length, ms: Math.round(result.took_ms) }) : t("no_results");
  for (const hit of result.hits) list.append(hitItem(hit));
}

function hitItem(hit) {
  const open = el("button", { type: "button", className: "citation-open" },
    el("span", { className: "citation-number" }, `${hit.rank}.`), " ",
    textEl("span", hit.title || hit.source_path, { className: "citation-title" }), " · ",
    el("span", { className: "citation-page" }, pagesLabel(hit.page_start, hit.page_end)), " · ",
    el("span", { className: "score" }, hit.score.toFixed(2)));
  open.addEventListener("click", () => openPage(hit.document_id, hit.page_start, hit.chunk_id));
  return append(el("li", { className: "citation" }), open, snippet(hit.snippet || hit.text));
}

// The search's snippet marks the query's words with **...**: shown as <mark>, still as text nodes.
function snippet(text) {
  const node = el("p", { className: "snippet", dir: "auto" });
  String(text).split("**").forEach((piece, index) => {
    if (piece) node.append(index % 2 ? el("mark", {}, piece) : document.createTextNode(piece));
  });
  return node;
}

// A cited page: its extracted text with the cited passage marked (<mark> around a text node), how
// it was read, the neighbouring pages, and the original file as a download.
import { call, download } from "./api.js";
import { append, byId, clear, el } from "./dom.js";
import { t } from "./i18n.js";
import { back, showView } from "./views.js";

const state = { documentId: null, page: 1, count: 1, chunkId: null, name: "document" };

export function setUpPage() {
  byId("page-back").addEventListener("click", back);
  byId("page-previous").addEventListener("click", () => openPage(state.documentId, state.page - 1, state.chunkId));
  byId("page-next").addEventListener("click", () => openPage(state.documentId, state.page + 1, state.chunkId));
  byId("page-download").addEventListener("click", () =>
    download(`/v1/documents/${encodeURIComponent(state.documentId)}/original`, state.name)
      .catch((error) => { byId("page-meta").textContent = t("error", { message: error.message }); }));
}

export async function openPage(documentId, pageNo, chunkId) {
  const query = chunkId ? `?chunk=${encodeURIComponent(chunkId)}` : "";
  const page = await call("GET", `/v1/documents/${encodeURIComponent(documentId)}/pages/${pageNo}${query}`);
  Object.assign(state, { documentId: page.document_id, page: page.page_no, count: page.page_count || 1,
                         chunkId, name: page.source_path || "document" });
  byId("page-title").textContent = page.title || page.source_path;
  const meta = [t("page_of", { page: page.page_no, count: state.count }), t("read_by", { method: page.method })];
  if (page.ocr_confidence !== null && page.ocr_confidence !== undefined) {
    meta.push(t("confidence", { value: Math.round(page.ocr_confidence) }));
  }
  if (page.language) meta.push(t("language", { value: page.language }));
  byId("page-meta").textContent = meta.join(" · ");
  const body = clear(byId("page-text"));
  let first = null;
  for (const segment of page.segments) {
    if (segment.mark) {
      // no dir of its own: the passage reads in the page's direction, which its text decides
      const mark = el("mark", { className: "cited" }, segment.text);
      first = first || mark;
      body.append(mark);
    } else {
      append(body, segment.text);   // a text node
    }
  }
  byId("page-previous").disabled = state.page <= 1;
  byId("page-next").disabled = state.page >= state.count;
  showView("page");
  if (first) first.scrollIntoView({ block: "center" });
  byId("page-text").focus({ preventScroll: Boolean(first) });
}


// The web page of llmforge serve: sign in, then ask, search, read the cited page, and (as the
// role allows) manage documents or users and keys. Controls a role cannot use are not shown; the
// server refuses them anyway.
import { can, me, signIn, signOut, whenSignedOut } from "./api.js";
import { loadAdmin, setUpAdmin } from "./admin.js";
import { loadAgents, setUpAsk } from "./ask.js";
import { byId, show } from "./dom.js";
import { loadDocuments, setUpDocuments } from "./documents.js";
import { chooseLanguage, language, setLanguage, t } from "./i18n.js";
import { setUpPage } from "./page.js";
import { setUpSearch } from "./search.js";
import { onShow, showView } from "./views.js";

function notice(message) {
  const line = byId("notice");
  line.textContent = message || "";
  show(line, Boolean(message));
}

function signedIn(who) {
  notice("");
  byId("who").textContent = t("signed_in_as", { user: who.user, role: who.role });
  for (const node of [byId("nav"), byId("who"), byId("sign-out")]) show(node, true);
  for (const button of document.querySelectorAll("#nav [data-needs]")) show(button, can(button.dataset.needs));
  showView("ask");
  loadAgents().catch((error) => notice(t("error", { message: error.message })));
  byId("ask-question").focus();
}

function signedOut(reason) {
  for (const node of [byId("nav"), byId("who"), byId("sign-out")]) show(node, false);
  for (const button of document.querySelectorAll("#nav [data-needs]")) show(button, false);
  // Nothing of the last user stays on the page for the next one.
  for (const form of document.querySelectorAll("form")) form.reset();
  for (const id of ["answer-text", "answer-reason", "ask-status", "citations", "search-results", "search-status",
                    "page-text", "jobs", "key-secret-value"]) byId(id).replaceChildren();
  for (const table of document.querySelectorAll("tbody, table.usage")) table.replaceChildren();
  showView("signin");
  notice(reason ? t(reason) : "");
  byId("signin-user").focus();
}

function setUpSignIn() {
  byId("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = byId("signin-error");
    error.textContent = "";
    const password = byId("signin-password");
    try {
      const who = await signIn(byId("signin-user").value.trim(), password.value);
      password.value = "";
      signedIn(who);
    } catch (failure) {
      password.value = "";
      error.textContent = failure.message;
      password.focus();
    }
  });
  byId("sign-out").addEventListener("click", async () => {
    await signOut();
    signedOut();
  });
  whenSignedOut(signedOut);
}

function setUpNavigation() {
  for (const button of document.querySelectorAll("#nav button")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  const loading = (loader) => () => loader().catch((error) => notice(t("error", { message: error.message })));
  onShow("documents", loading(loadDocuments));
  onShow("admin", loading(loadAdmin));
  byId("language").addEventListener("click", () => {
    setLanguage(language() === "ar" ? "en" : "ar");
    const who = me();
    if (who) byId("who").textContent = t("signed_in_as", { user: who.user, role: who.role });
  });
}

chooseLanguage();
setUpSignIn();
setUpNavigation();
setUpAsk();
setUpSearch();
setUpPage();
setUpDocuments();
setUpAdmin();
showView("signin");
byId("signin-user").focus();

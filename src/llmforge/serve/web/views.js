// One view shown at a time; the navigation marks the current one. Back from a cited page returns
// to the view it was opened from.
const VIEWS = ["signin", "ask", "search", "page", "documents", "admin"];
let current = "signin", previous = "ask";
const loaders = {};

export function onShow(name, loader) {
  loaders[name] = loader;
}

export function showView(name) {
  if (name !== current && current !== "page" && current !== "signin") previous = current;
  current = name;
  for (const view of VIEWS) document.getElementById(`view-${view}`).hidden = view !== name;
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (loaders[name]) loaders[name]();
}

export function back() {
  showView(previous);
}

export function currentView() {
  return current;
}

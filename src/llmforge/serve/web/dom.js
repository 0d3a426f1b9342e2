// Building the page from data without ever parsing data as markup: every text from documents,
// models or users goes in through text nodes (textContent), never innerHTML.

// An element: `props` sets attributes (className, dir, hidden, on* handlers...); children are
// nodes or strings, a string becoming a text node.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

// An element showing text that came from a user, a document or a model: its direction follows
// the text (Arabic reads right to left, inside English labels too).
export function textEl(tag, text, props = {}) {
  return el(tag, { dir: "auto", ...props }, text ?? "");
}

export function append(node, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

// A button that asks for a second, explicit press before `action` runs (no native dialog).
export function confirmButton(label, confirmLabel, cancelLabel, action) {
  const wrap = el("span", { className: "confirm" });
  const start = el("button", { type: "button", className: "danger" }, label);
  const yes = el("button", { type: "button", className: "danger" }, confirmLabel);
  const no = el("button", { type: "button" }, cancelLabel);
  const pick = (asking) => {
    start.hidden = asking;
    yes.hidden = no.hidden = !asking;
  };
  start.addEventListener("click", () => { pick(true); no.focus(); });
  no.addEventListener("click", () => { pick(false); start.focus(); });
  yes.addEventListener("click", async () => { yes.disabled = true; try { await action(); } finally { yes.disabled = false; pick(false); } });
  pick(false);
  return append(wrap, start, yes, no);
}

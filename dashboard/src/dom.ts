// Building the page from DOM nodes and text nodes only: nothing the API returns is ever
// parsed as HTML, so names, models and report text cannot inject markup.

export type Child = Node | string | number | null | undefined | false | Child[];

export type Props = {
  class?: string;
  text?: string;
  title?: string;
  on?: { [event: string]: (e: Event) => void };
  [attribute: string]: unknown;
};

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = String(value);
    else if (name === "text") el.textContent = String(value);
    else if (name === "on") {
      for (const [event, handler] of Object.entries(value as Props["on"] & object)) el.addEventListener(event, handler);
    } else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

/** Replace an element's content. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function empty(message: string, hint?: string): HTMLElement {
  return h("div", { class: "empty" }, h("p", { text: message }), hint ? h("p", { class: "muted", text: hint }) : null);
}

export function problem(message: string): HTMLElement {
  return h("p", { class: "problem", role: "status", text: message });
}

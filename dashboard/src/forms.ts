// Forms that change things through the API. The API is the only validator: a form sends what was
// typed (numbers as numbers, anything else as typed) and shows the API's own errors (SPEC 3:
// `details[].loc/msg`) next to the field each one names, the rest above the form.

import { ApiError, type ErrorDetail } from "./api";

const WHERE = new Set(["body", "path", "query"]);
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i;

type Control = HTMLInputElement | HTMLSelectElement;

export function control(form: HTMLFormElement, name: string): Control {
  const found = form.elements.namedItem(name);
  if (!found || found instanceof RadioNodeList) throw new Error(`missing form field ${name}`);
  return found as Control;
}

/** The trimmed text of a field. */
export function text(form: HTMLFormElement, name: string): string {
  return control(form, name).value.trim();
}

/** A number when it reads as one, else the text as typed (for the API to refuse); null when empty. */
export function numeric(raw: string): number | string | null {
  if (!raw) return null;
  return NUMBER.test(raw) ? Number(raw) : raw;
}

export function checked(form: HTMLFormElement, name: string): string[] {
  return [...form.querySelectorAll<HTMLInputElement>(`input[type=checkbox][name="${name}"]`)]
    .filter((box) => box.checked).map((box) => box.value);
}

export function setValues(form: HTMLFormElement, values: Record<string, string | boolean>): void {
  for (const [name, value] of Object.entries(values)) {
    const field = control(form, name);
    if (field instanceof HTMLInputElement && field.type === "checkbox") field.checked = Boolean(value);
    else field.value = String(value);
  }
}

export function clearErrors(form: HTMLElement): void {
  const summary = form.querySelector<HTMLElement>(".form-error");
  if (summary) {
    summary.hidden = true;
    summary.textContent = "";
  }
  for (const message of form.querySelectorAll(".field-error")) message.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

/** The field a detail's `loc` names: the longest prefix of it that a `data-field` lists. */
function fieldOf(form: HTMLElement, loc: ErrorDetail["loc"]): { field: HTMLElement; rest: (string | number)[] } | null {
  const parts = WHERE.has(String(loc[0])) ? loc.slice(1) : loc;
  for (let n = parts.length; n > 0; n--) {
    const name = parts.slice(0, n).join(".");
    const field = form.querySelector<HTMLElement>(`[data-field~="${CSS.escape(name)}"]`);
    if (field) return { field, rest: parts.slice(n) };
  }
  return null;
}

function restText(rest: (string | number)[]): string {
  return rest.map((part) => (typeof part === "number" ? `value ${part + 1}` : part)).join(" ");
}

let errorIds = 0;

/** Mark a field with a message, as the API wrote it. */
export function fieldError(form: HTMLElement, name: string, message: string): void {
  const field = form.querySelector<HTMLElement>(`[data-field~="${CSS.escape(name)}"]`);
  if (field) mark(field, message);
}

function mark(field: HTMLElement, message: string): void {
  const note = document.createElement("p");
  note.className = "field-error";
  note.id = `field-error-${++errorIds}`;
  note.textContent = message;
  field.append(note);
  for (const input of field.querySelectorAll<HTMLElement>("input, select")) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", note.id);
  }
}

/** Show why the API refused a form: each detail next to its field, the rest (and the why) above. */
export function showErrors(form: HTMLElement, error: unknown, what: string): void {
  clearErrors(form);
  const summary = form.querySelector<HTMLElement>(".form-error")!;
  if (!(error instanceof ApiError)) {
    summary.textContent = `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
    summary.hidden = false;
    return;
  }
  const elsewhere: string[] = [];
  for (const detail of error.details) {
    const found = fieldOf(form, detail.loc);
    if (found) mark(found.field, found.rest.length ? `${restText(found.rest)}: ${detail.msg}` : detail.msg);
    else elsewhere.push(detail.loc.length ? `${detail.loc.join(".")}: ${detail.msg}` : detail.msg);
  }
  if (error.status === 0) summary.textContent = error.message;
  else if (error.status === 400) {
    summary.textContent = `The API did not accept this ${what} (${error.message})` +
      (elsewhere.length ? `: ${elsewhere.join("; ")}.` : error.details.length ? "; see the marked fields." : ".");
  } else summary.textContent = `The API answered ${error.status} (${error.code}): ${error.message}`;
  summary.hidden = false;
  form.querySelector<HTMLElement>("[aria-invalid=true]")?.focus();
}

/** Run a submission with the form's buttons disabled. */
export async function submitting<T>(form: HTMLFormElement, work: () => Promise<T>): Promise<T> {
  const buttons = [...form.querySelectorAll<HTMLButtonElement>("button")];
  for (const b of buttons) b.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    for (const b of buttons) b.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

export function say(el: HTMLElement, message: string | null): void {
  el.textContent = message ?? "";
  el.hidden = !message;
}
